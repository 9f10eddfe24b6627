-- Subscriptions, the change journal and the notification outbox (docs/notifications.md).

-- Subscriptions per tenant in creation order (pk); delivery counters apart from the
-- document, so that counting a notification never rewrites it.
CREATE TABLE subscriptions (
    pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL,
    id text NOT NULL,
    doc jsonb NOT NULL,
    context jsonb NOT NULL,
    times_sent bigint NOT NULL DEFAULT 0,
    times_failed bigint NOT NULL DEFAULT 0,
    consecutive_errors bigint NOT NULL DEFAULT 0,
    last_notification text,
    last_success text,
    last_failure text,
    last_status text,
    UNIQUE (tenant, id)
);

-- Committed entity changes not yet matched against subscriptions, written in the
-- entity's own transaction. A row leaves the table when the matching transaction that
-- read it commits (there is no cursor: a transaction that took a lower seq may commit
-- after a higher one, and its row is then simply read by the next pass).
CREATE TABLE change_journal (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL,
    entity_id text NOT NULL,
    before text,
    after text,
    committed_at text NOT NULL
);

-- Notifications not yet delivered. `owner_pid` / `owner_since` name the database
-- session (pg_stat_activity pid and backend_start) of the process delivering a row: a
-- process only claims rows nobody owns or whose owner session is gone.
CREATE TABLE notification_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL,
    subscription_id text NOT NULL,
    ordering_key text NOT NULL,
    endpoint text NOT NULL,
    content_type text NOT NULL,
    body bytea NOT NULL,
    headers text NOT NULL,
    created_at double precision NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL DEFAULT 0,
    last_error text,
    owner_pid integer,
    owner_since timestamptz
);
CREATE INDEX notification_outbox_owner ON notification_outbox (owner_pid, id);
