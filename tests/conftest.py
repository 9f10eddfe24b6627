"""Fixtures shared by the whole suite: an in-process City OS on a fresh database, SQLite
and PostgreSQL (tests/postgres_support.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from tests.browser_support import browser  # noqa: F401  (the browser fixture, for all tests)
from tests.postgres_support import fresh_schema

IN_CI = os.environ.get("CI") == "true"


# API test modules that run on SQLite alone (none: every feature is on both backends).
POSTGRES_PENDING: frozenset[str] = frozenset()
# Other modules parametrised by `database_url` that run on both backends: the storage
# contracts and the end-to-end notification delivery (folder, file).
BOTH_BACKENDS = frozenset({("storage", "test_subscription_store.py"),
                           ("storage", "test_temporal_store.py"),
                           ("storage", "test_change_journal.py"),
                           ("e2e", "test_notification_delivery.py"),
                           ("e2e", "test_temporal_notifications.py"),
                           ("delivery", "test_delivery_status.py")})


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new PostgreSQL schema (tests/postgres_support)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cityos.db'}"
        return
    with fresh_schema() as url:
        yield url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Both backends for the API tests (tests/api) and BOTH_BACKENDS; SQLite alone for
    the rest, whose subject is not the storage backend."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and \
            callspec.params.get("database_url") == "postgresql"
        path = Path(str(item.fspath))
        api_test = path.parent.name == "api" and path.name not in POSTGRES_PENDING
        contract = (path.parent.name, path.name) in BOTH_BACKENDS
        (dropped if on_postgres and not (api_test or contract) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """A City OS on its own database, reached in-process over the real ASGI app."""
    settings = load_settings({"database_url": database_url, "dev": True}, environ={})
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026") as test_client:
        yield test_client
