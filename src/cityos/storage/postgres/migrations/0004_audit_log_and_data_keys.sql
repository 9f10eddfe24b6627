-- The audit trail: an append-only hash chain of API calls and admin actions
-- (cityos.security.audit), and its signed checkpoints (anchor = the checkpoint of the last
-- record retention deleted, from which the chain continues).
CREATE TABLE audit_log (
    seq bigint PRIMARY KEY,
    time text COLLATE "C" NOT NULL,
    subject text NOT NULL,
    kind text NOT NULL,
    client_id text,
    issuer text,
    tenant text,
    operation text NOT NULL,
    target text,
    purpose text,
    result text NOT NULL,
    remote text,
    request_id text,
    prev_hash text NOT NULL,
    hash text NOT NULL
);

CREATE TABLE audit_checkpoints (
    size bigint NOT NULL,
    anchor boolean NOT NULL DEFAULT false,
    doc jsonb NOT NULL,
    PRIMARY KEY (size, anchor)
);

-- Data keys of field-level encryption (cityos.security.field_crypto), each wrapped
-- (AES-256-GCM) by a master key of the key file, which never enters the database.
CREATE TABLE encryption_data_keys (
    id text PRIMARY KEY,
    master_key_id text NOT NULL,
    wrapped text NOT NULL,
    created text NOT NULL
);
