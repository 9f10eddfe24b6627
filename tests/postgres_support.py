"""A PostgreSQL/PostGIS server for the tests: one fresh schema per test.

The server is CITYOS_TEST_POSTGRES_URL (default: the `test` database on 127.0.0.1:5432,
user postgres). With CI=true a missing server or PostGIS fails the tests; elsewhere they
are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from urllib.parse import quote

import psycopg
import pytest

SERVER_URL = os.environ.get("CITYOS_TEST_POSTGRES_URL",
                            "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"


@cache
def _server_problem() -> str | None:
    """Why PostgreSQL tests cannot run here, or None. Installs PostGIS in `public` once, so
    that the per-test schemas (dropped afterwards) never own the extension."""
    try:
        with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
    except psycopg.Error as error:
        return f"PostgreSQL/PostGIS at {SERVER_URL} unavailable: {error}".strip()
    return None


def require_postgres() -> None:
    """Skip (or, in CI, fail) the calling test when the server or PostGIS is missing."""
    problem = _server_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def schema_url(schema: str) -> str:
    """The server URL with `schema` first on the search_path (PostGIS stays in public)."""
    options = quote(f"-csearch_path={schema},public", safe="")
    separator = "&" if "?" in SERVER_URL else "?"
    return f"{SERVER_URL}{separator}options={options}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new empty schema for one test; yields a database URL selecting it."""
    require_postgres()
    schema = "cityos_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(schema)
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
