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
CREATE INDEX audit_log_time ON audit_log (time);

CREATE TABLE audit_checkpoints (
    size bigint NOT NULL,
    anchor boolean NOT NULL DEFAULT false,
    doc jsonb NOT NULL,
    PRIMARY KEY (size, anchor)
);
