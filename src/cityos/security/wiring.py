"""Assembles the audit trail, key ring and HTTP protections from the settings (called by
cityos.app; kept here so the app's assembly stays a list of calls)."""

from __future__ import annotations

import logging
from typing import Any

from cityos.config import Settings
from cityos.metrics import Counters
from cityos.security.audit import AuditTrail
from cityos.security.keys import KeyRing, load_key_ring
from cityos.security.personal import PersonalAttributes
from cityos.security.rate_limit import TokenBuckets
from cityos.security.rate_limit_sharing import SharedRateLimits
from cityos.storage.audit import AuditLog
from cityos.storage.data_keys import DataKeyStore

log = logging.getLogger("cityos.security")


def key_ring(settings: Settings) -> KeyRing | None:
    """The key file's keys; raises KeyFileError (refusing to start) when the file is
    missing, malformed or readable by others."""
    if not settings.key_file:
        if settings.personal_attributes:
            log.warning("CITYOS_PERSONAL_ATTRIBUTES is set but CITYOS_KEY_FILE is not: "
                        "personal attributes are stored UNENCRYPTED")
        return None
    return load_key_ring(settings.key_file)


def open_audit_log(settings: Settings, store: Any) -> AuditLog | None:
    """The audit log beside the entity store (construct before the store opens)."""
    if not settings.audit:
        return None
    from cityos.storage.siblings import sibling_store
    result: AuditLog = sibling_store(store, "audit_log", "AuditLog")
    return result


def audit_trail(settings: Settings, store: Any, counters: Counters,
                keys: KeyRing | None) -> AuditTrail:
    return AuditTrail(open_audit_log(settings, store), counters, keys=keys,
                      flush_interval=settings.audit_flush_interval,
                      retention_days=settings.audit_retention_days)


def rate_limits(settings: Settings, store: Any = None) -> dict[str, TokenBuckets | None]:
    """The buckets of the rate-limit middleware; shared between processes (see
    `rate_limit_sharing`) when the database is PostgreSQL."""
    shared = _postgres(store) and settings.rate_limit_shared

    def buckets(rate: float, burst: int) -> TokenBuckets | None:
        return TokenBuckets(rate, burst, shared=shared) if rate > 0 else None
    return {"per_client": buckets(settings.rate_limit_client, settings.rate_limit_client_burst),
            "per_ip": buckets(settings.rate_limit_ip, settings.rate_limit_ip_burst)}


def rate_limit_sharing(settings: Settings, store: Any,
                       limits: dict[str, TokenBuckets | None]) -> SharedRateLimits | None:
    """The task that shares the buckets through the database (None: per process)."""
    shared = {kind: buckets for kind, buckets in (("client", limits["per_client"]),
                                                  ("ip", limits["per_ip"]))
              if buckets is not None and buckets.shared}
    if not shared:
        return None
    from cityos.storage.siblings import sibling_store
    return SharedRateLimits(sibling_store(store, "rate_limits", "RateLimits"), shared,
                            interval=settings.rate_limit_sync_interval)


def _postgres(store: Any) -> bool:
    from cityos.storage.postgres.store import PostgresStore
    return isinstance(getattr(store, "inner", store), PostgresStore)


def field_encryption(settings: Settings, store: Any, keys: KeyRing | None) -> Any:
    """The entity store the services use: `store` itself, or an EncryptingStore around it
    when personal attributes are configured and a key file is given."""
    personal = PersonalAttributes.parse(settings.personal_attributes)
    if keys is None or not personal:
        return store
    from cityos.security.encrypting_store import EncryptingStore
    from cityos.security.field_crypto import DataKeyring, FieldCipher
    return EncryptingStore(store, FieldCipher(DataKeyring(data_key_store(store), keys),
                                              personal))


def data_key_store(store: Any) -> DataKeyStore:
    """Where the wrapped data keys live (construct before the store opens)."""
    from cityos.storage.siblings import sibling_store
    result: DataKeyStore = sibling_store(store, "data_keys", "DataKeyStore")
    return result


def seal_temporal(temporal: Any, entity_store: Any) -> None:
    """Point the temporal service at the encrypting store and seal its history."""
    from cityos.security.encrypting_history import SealingHistory
    from cityos.security.encrypting_store import EncryptingStore
    if temporal is not None and isinstance(entity_store, EncryptingStore):
        temporal.entities = entity_store
        temporal.history = SealingHistory(temporal.history, entity_store)


def opened_journal(journal: Any, entity_store: Any) -> Any:
    from cityos.security.encrypting_history import OpeningJournal
    from cityos.security.encrypting_store import EncryptingStore
    if isinstance(entity_store, EncryptingStore):
        return OpeningJournal(journal, entity_store.cipher)
    return journal
