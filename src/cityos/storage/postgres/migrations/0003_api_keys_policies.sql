-- API keys (only a hash of each secret) and authorization policy grants.
CREATE TABLE IF NOT EXISTS security_api_keys (
    key_id text PRIMARY KEY,
    secret_hash text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    roles text NOT NULL,
    tenants text,
    created_at text NOT NULL,
    expires_at text,
    revoked_at text
);

CREATE TABLE IF NOT EXISTS security_policies (
    id text PRIMARY KEY,
    doc jsonb NOT NULL,
    pk bigserial NOT NULL
);
