-- Security records (cityos.storage.security): operators, sessions, OIDC clients, signing
-- keys, single-use codes and lockout counters, as JSON documents by (kind, key). Secrets
-- in them arrive hashed or encrypted.
CREATE TABLE security_records (
    kind text NOT NULL,
    key text NOT NULL,
    doc jsonb NOT NULL,
    expires_at double precision,
    PRIMARY KEY (kind, key)
);
CREATE INDEX security_records_expiry ON security_records (expires_at)
    WHERE expires_at IS NOT NULL;
