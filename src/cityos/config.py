"""Settings: one typed object read from CITYOS_* environment variables and an optional TOML
file (CITYOS_CONFIG). Every field is documented in docs/configuration.md; a test checks that."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "CITYOS_"


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"doc": "Address to listen on."})
    port: int = field(default=1026, metadata={"doc": "TCP port (1026, as other NGSI-LD "
                                                     "brokers use)."})
    database_url: str = field(default="sqlite:///var/cityos.db",
                              metadata={"doc": "sqlite:///PATH: the embedded database file; "
                                               "postgresql://USER@HOST:PORT/DATABASE: "
                                               "PostgreSQL with PostGIS (docs/postgresql.md)."})
    event_bus: str = field(default="", metadata={
        "doc": "Where entity events go between processes: empty for in-process (one "
               "server); nats://HOST:PORT for NATS JetStream (several servers on one "
               "PostgreSQL, docs/scaling.md)."})
    event_bus_stream: str = field(default="CITYOS_EVENTS", metadata={
        "doc": "Name of the JetStream stream holding the entity events."})
    sqlite_synchronous: str = field(default="NORMAL", metadata={
        "doc": "NORMAL: a committed write survives a crash of the process; FULL: it also "
               "survives an OS crash or power loss, at a cost in write throughput."})
    postgres_pool_min: int = field(default=2, metadata={
        "doc": "PostgreSQL connections each process keeps open."})
    postgres_pool_max: int = field(default=10, metadata={
        "doc": "Most PostgreSQL connections one process opens; requests beyond wait for a "
               "free one. Keep processes × this below the server's max_connections."})
    base_url: str = field(default="", metadata={
        "doc": "Public URL of this server, used in links to hosted @contexts; default "
               "http://HOST:PORT."})
    max_body_bytes: int = field(default=1_048_576, metadata={
        "doc": "Largest accepted request body in bytes; larger bodies get 413."})
    context_fetch_timeout: float = field(default=5.0, metadata={
        "doc": "Seconds to wait for a remote @context before answering 504 LdContextNotAvailable."})
    context_max_bytes: int = field(default=1_048_576, metadata={
        "doc": "Largest remote @context document accepted, in bytes."})
    context_mirrors: str = field(default="", metadata={
        "doc": "Serve remote @contexts from a local mirror: comma-separated "
               "PREFIX=LOCAL_PREFIX pairs, e.g. https://example.org/ctx/=http://127.0.0.1:8099/"
               ". Requests keep the original URL."})
    demo: bool = field(default=False, metadata={
        "doc": "Load the Kaga demo data (shelters) at start; entities already there are "
               "kept as they are."})
    dev: bool = field(default=False, metadata={
        "doc": "Development mode: anonymous callers may do everything (local development "
               "and conformance runs). Refused unless the server listens on a loopback "
               "address; never use it in production."})
    personal_attributes: str = field(default="", metadata={
        "doc": "Attributes that hold personal data, comma-separated: NAME (any entity "
               "type) or TYPE.NAME, as terms of the core @context or full IRIs. They are "
               "never readable without an explicit grant and are stored encrypted."})
    public_types: str = field(default="EvacuationShelter,CrowdFlowObserved,WaterObserved",
                              metadata={
        "doc": "Entity types everyone, anonymous callers included, may read (comma-separated "
               "terms of the core @context or IRIs), so the public map works without "
               "login; empty for none. Personal attributes stay hidden."})
    policies_file: str = field(default="", metadata={
        "doc": "A TOML file of authorization grants ([[grant]] tables: audience, "
               "operations, tenant, entityType, idPattern, attributes) added to the stored "
               "ones (docs/security.md)."})
    log_level: str = field(default="info", metadata={"doc": "debug, info, warning or error."})
    key_file: str = field(default="", metadata={
        "doc": "Path of the key file (outside the database, mode 0600; `cityos keys "
               "generate`): master keys for encrypting personal attributes and the key "
               "that signs audit checkpoints. The server refuses to start if the file is "
               "readable by its group or others. Empty: no encryption, no signed checkpoints."})
    audit: bool = field(default=True, metadata={
        "doc": "Record every API call and admin action in the tamper-evident audit trail."})
    audit_flush_interval: float = field(default=0.2, metadata={
        "doc": "Seconds between writes of queued audit records (one transaction each); a "
               "crash of the process loses at most this window of records."})
    audit_retention_days: float = field(default=0.0, metadata={
        "doc": "Days audit records are kept (0 = forever); deleting needs CITYOS_KEY_FILE, "
               "since a signed checkpoint anchors the first record kept."})
    audit_verify_interval: float = field(default=3600.0, metadata={
        "doc": "Seconds between self-verifications of the audit trail (a failure raises an "
               "auditVerificationFailed Alert); 0 turns them off."})
    rate_limit_client: float = field(default=0.0, metadata={
        "doc": "Requests per second each authenticated caller may make (token bucket); "
               "0 = no limit. Beyond it: 429 with Retry-After."})
    rate_limit_client_burst: int = field(default=60, metadata={
        "doc": "Requests a caller may make at once before its rate limit applies."})
    rate_limit_ip: float = field(default=0.0, metadata={
        "doc": "Requests per second each client IP address may make; 0 = no limit."})
    rate_limit_ip_burst: int = field(default=120, metadata={
        "doc": "Requests an IP address may make at once before its rate limit applies."})
    rate_limit_shared: bool = field(default=True, metadata={
        "doc": "On PostgreSQL, share the rate limits between all server processes of the "
               "database (false: each process limits alone). The embedded database "
               "serves one process: its limits are always its own."})
    rate_limit_sync_interval: float = field(default=0.2, metadata={
        "doc": "Seconds between two exchanges of rate-limit usage with the other "
               "processes (shared limits only)."})
    tls_cert: str = field(default="", metadata={
        "doc": "PEM certificate (chain) file: serve HTTPS directly (with CITYOS_TLS_KEY)."})
    tls_key: str = field(default="", metadata={
        "doc": "PEM private key file of CITYOS_TLS_CERT."})
    temporal_retention: str = field(default="0", metadata={
        "doc": "How long temporal history is kept: DAYS[,TYPE=DAYS…], a default number of "
               "days (0 keeps it forever) and overrides per entity type (an IRI, or a term "
               "of the default @context), e.g. 365,Vehicle=30."})
    transient_sweep_interval: float = field(default=1.0, metadata={
        "doc": "Seconds between sweeps that delete expired transient entities and "
               "attribute instances (expiresAt); reads hide them at once regardless. "
               "0 turns the sweeper off."})
    temporal_cleanup_interval: float = field(default=3600.0, metadata={
        "doc": "Seconds between runs of the temporal retention clean-up."})
    temporal_instance_limit: int = field(default=1000, metadata={
        "doc": "Most attribute instances per attribute in one temporal response; beyond "
               "it the response is cut to a time range and answered 206 with a "
               "Content-Range header (ETSI GS CIM 009 §6.3.10)."})
    notification_allow: str = field(default="", metadata={
        "doc": "Comma-separated hosts, *.suffixes and CIDRs notifications may go to; empty "
               "allows every destination the deny rules leave."})
    notification_deny: str = field(default="", metadata={
        "doc": "Comma-separated hosts, *.suffixes and CIDRs notifications never go to, on "
               "top of link-local, metadata, multicast, unspecified and reserved addresses."})
    notification_connect_timeout: float = field(default=5.0, metadata={
        "doc": "Seconds to wait for a notification endpoint to accept a connection."})
    notification_read_timeout: float = field(default=10.0, metadata={
        "doc": "Seconds to wait for a notification endpoint's answer."})
    notification_tls_verify: bool = field(default=True, metadata={
        "doc": "Verify the TLS certificates of https:// and mqtts:// endpoints."})
    notification_retry_initial: float = field(default=1.0, metadata={
        "doc": "Seconds before the first retry of a failed notification; doubles per try."})
    notification_retry_max: float = field(default=60.0, metadata={
        "doc": "Longest wait between two tries of one notification, in seconds."})
    notification_retry_jitter: float = field(default=0.2, metadata={
        "doc": "Random spread of retry waits, as a fraction (0.2 = ±20 %)."})
    notification_give_up_after: float = field(default=86400.0, metadata={
        "doc": "Seconds after which an undeliverable notification is dropped; 0 = never."})
    notification_endpoint_concurrency: int = field(default=8, metadata={
        "doc": "Notifications sent to one endpoint (host and port) at the same time."})
    notification_endpoint_connections: int = field(default=2, metadata={
        "doc": "HTTP connections kept to one endpoint; notifications sent at the same "
               "time beyond these are pipelined on them (equal to the concurrency: no "
               "pipelining)."})
    notification_poll_interval: float = field(default=1.0, metadata={
        "doc": "Seconds between safety-net checks of the change journal."})
    notification_drain_timeout: float = field(default=5.0, metadata={
        "doc": "Seconds a shutdown waits for notifications already due to be sent."})
    map_tile_url: str = field(
        default="https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png", metadata={
            "doc": "Base map tile URL template ({z}/{x}/{y}) of the map pages (shelters, "
                   "sensors); empty for no tiles (markers and the city outline still "
                   "show)."})
    map_tile_attribution: str = field(
        default="<a href=\"https://maps.gsi.go.jp/development/ichiran.html\">地理院タイル</a>",
        metadata={"doc": "Attribution (HTML) shown for the base map tiles."})
    shelters_crowding_thresholds: str = field(default="30/60/80", metadata={
        "doc": "Percent of capacity from which a shelter is slightly crowded / crowded / "
               "full, when derived from the evacuee count."})
    shelters_max_live_clients: int = field(default=2000, metadata={
        "doc": "Open shelter-map pages that may receive live updates at once (per process); "
               "beyond it the event stream answers 503 and pages retry."})

    session_idle_timeout: float = field(default=1800.0, metadata={
        "doc": "Seconds of inactivity after which an operator's login session ends."})
    session_absolute_timeout: float = field(default=43200.0, metadata={
        "doc": "Seconds after login at which an operator's session ends however active."})
    login_lockout_threshold: int = field(default=5, metadata={
        "doc": "Failed logins (password, TOTP or recovery code) in a row after which an "
               "account is locked for a while; reaching it raises a security event."})
    login_lockout_delay: float = field(default=30.0, metadata={
        "doc": "Seconds an account stays locked at the threshold; the lock doubles with "
               "each further failure, up to login_lockout_max_delay."})
    login_lockout_max_delay: float = field(default=900.0, metadata={
        "doc": "Longest lock after repeated failed logins, in seconds."})
    login_burst_threshold: int = field(default=20, metadata={
        "doc": "Failed logins across all accounts within login_burst_window seconds that "
               "raise a loginFailureBurst security event (password spraying); 0 turns it "
               "off. Counted per process."})
    login_burst_window: float = field(default=60.0, metadata={
        "doc": "Seconds over which login_burst_threshold failures are counted."})
    access_token_lifetime: float = field(default=600.0, metadata={
        "doc": "Seconds an access token of the built-in OpenID Connect provider is valid."})
    authorization_code_lifetime: float = field(default=60.0, metadata={
        "doc": "Seconds an authorization code (code flow with PKCE) may be exchanged."})
    oidc_issuer: str = field(default="", metadata={
        "doc": "Issuer URL of the built-in OpenID Connect provider (the `iss` of its "
               "tokens); default the public URL (base_url)."})
    oidc_audience: str = field(default="cityos", metadata={
        "doc": "Audience (`aud`) the built-in provider puts in its tokens and that tokens "
               "of every issuer must carry to be accepted."})
    oidc_issuers: str = field(default="", metadata={
        "doc": "External OpenID Connect issuers whose tokens are accepted, comma-separated "
               "issuer URLs (Keycloak realm, national ID card login…); their discovery "
               "document and JWKS are fetched over HTTP."})
    oidc_role_claim: str = field(default="roles", metadata={
        "doc": "Claim of external tokens holding the caller's roles; a dotted path reaches "
               "into objects (Keycloak: realm_access.roles)."})
    oidc_role_map: str = field(default="", metadata={
        "doc": "Comma-separated EXTERNAL=LOCAL role pairs for external tokens; empty takes "
               "the claim's roles as they are, otherwise only mapped roles are kept."})
    identity_key_file: str = field(default="", metadata={
        "doc": "File holding the key that encrypts TOTP secrets and signing keys in the "
               "database (created, mode 0600, if missing); default identity.key beside the "
               "SQLite file, or var/identity.key."})
    iot_mqtt_url: str = field(default="", metadata={
        "doc": "MQTT broker the IoT ingestion subscribes to: mqtt://[USER[:PASSWORD]@]HOST"
               "[:PORT] or mqtts://… for TLS; empty turns MQTT ingestion off (HTTP "
               "ingestion stays on). See docs/iot.md."})
    iot_mqtt_topic_prefix: str = field(default="", metadata={
        "doc": "Prefix of the IoT measurement topics: PREFIX/{apikey}/{deviceId}/attrs; "
               "empty gives the FIWARE IoT Agent topics /{apikey}/{deviceId}/attrs."})
    iot_mqtt_shared_group: str = field(default="", metadata={
        "doc": "MQTT shared subscription group ($share/GROUP/…): processes with the same "
               "group split the IoT messages between them instead of each taking all; "
               "empty: an ordinary subscription."})
    iot_mqtt_ca_file: str = field(default="", metadata={
        "doc": "CA certificate file (PEM) for mqtts:// IoT brokers; empty uses the "
               "system's trusted CAs."})
    iot_replay_window: float = field(default=300.0, metadata={
        "doc": "Seconds a signed IoT payload's timestamp may differ from the server's "
               "clock; a signature is accepted once inside this window."})
    iot_secret_key: str = field(default="", metadata={
        "doc": "Key (a Fernet key or a passphrase) that encrypts device HMAC keys at rest; "
               "empty keeps a generated key in the database itself (weaker, docs/iot.md)."})
    iot_secret_key_previous: str = field(default="", metadata={
        "doc": "Former values of CITYOS_IOT_SECRET_KEY, comma-separated: they still decrypt "
               "device HMAC keys (never encrypt) until `cityos iot rotate-secret-key` has "
               "re-encrypted every key under the current one (docs/iot.md)."})

    @property
    def sqlite_path(self) -> str | None:
        if self.database_url.startswith("sqlite:///"):
            return self.database_url.removeprefix("sqlite:///")
        return None

    @property
    def postgres_url(self) -> str | None:
        if self.database_url.startswith(("postgresql://", "postgres://")):
            return self.database_url
        return None

    @property
    def context_mirror_map(self) -> dict[str, str]:
        pairs = [p.split("=", 1) for p in self.context_mirrors.split(",") if "=" in p]
        return {prefix.strip(): local.strip() for prefix, local in pairs}

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    if kind in (bool, "bool"):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return str(raw)


def load_settings(overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Defaults < TOML file (CITYOS_CONFIG) < environment < explicit overrides (CLI flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        values.update(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
    for f in fields(Settings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name: f.type for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    typed = {k: _coerce(k, v, known[k]) for k, v in values.items()}
    return replace(Settings(), **typed)


def documented_settings() -> list[tuple[str, str]]:
    return [(ENV_PREFIX + f.name.upper(), f.metadata["doc"]) for f in fields(Settings)]
