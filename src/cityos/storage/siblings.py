"""Stores that live beside the entity store, in the same database (subscriptions, the
notification journal and outbox, temporal history, security records…): the one place that
picks a backend's implementation of each.

Backend modules follow one naming rule: `cityos.storage.sqlite.<module>.Sqlite<Name>` and
`cityos.storage.postgres.<module>.Postgres<Name>`, each constructed with the entity store
before it opens (a sibling adds its tables or migrations to the store's start)."""

from __future__ import annotations

from importlib import import_module
from typing import Any


def sibling_store(store: object, module: str, name: str) -> Any:
    """The backend's `<Backend><name>` from `cityos.storage.<backend>.<module>`, beside
    `store` (a SqliteStore or a PostgresStore, or a wrapper of one that keeps it as
    `inner`, such as the store that encrypts personal attributes)."""
    store = getattr(store, "inner", store)
    from cityos.storage.sqlite.store import SqliteStore
    if isinstance(store, SqliteStore):
        return getattr(import_module(f"cityos.storage.sqlite.{module}"), f"Sqlite{name}")(store)
    from cityos.storage.postgres.store import PostgresStore
    if isinstance(store, PostgresStore):
        backend = import_module(f"cityos.storage.postgres.{module}")
        return getattr(backend, f"Postgres{name}")(store)
    raise TypeError(f"no {name} for a {type(store).__name__}")
