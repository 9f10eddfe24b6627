-- Rate limits shared by every server process on this database: one token bucket per
-- (limit, key). Each process adds the tokens it took every fraction of a second and
-- adopts the bucket's level (cityos.security.rate_limit_sharing). UNLOGGED: the buckets
-- are worth nothing after a crash (they start full again) and need no WAL.

CREATE UNLOGGED TABLE rate_limit_buckets (
    kind text NOT NULL,
    key text NOT NULL,
    tokens double precision NOT NULL,
    updated double precision NOT NULL,
    PRIMARY KEY (kind, key)
);
