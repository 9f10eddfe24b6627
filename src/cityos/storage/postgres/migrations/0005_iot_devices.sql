-- IoT device and group records (cityos.iot, storage/devices.py). API keys are stored as
-- SHA-256 hashes only; HMAC keys are encrypted before they reach the database.
CREATE TABLE iot_devices (
    device_id text PRIMARY KEY,
    tenant text NOT NULL,
    doc jsonb NOT NULL,
    apikey_hash text NOT NULL,
    hmac_key bytea,
    last_seen text
);

CREATE TABLE iot_groups (
    tenant text NOT NULL,
    name text NOT NULL,
    doc jsonb NOT NULL,
    apikey_hash text,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE iot_secrets (name text PRIMARY KEY, value bytea NOT NULL);
