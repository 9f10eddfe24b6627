"""Fuzzing the served OpenAPI document with security on and a real API key: no input may
cause a 5xx, and every operation that declares credentials refuses requests without them
or with invalid ones (schemathesis' ignored_auth check, and a deterministic sweep over
every secured operation)."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import ignored_auth
from starlette.testclient import TestClient
from tests.api.test_openapi_fuzz import offline_contexts  # noqa: F401  (autouse: no network)
from tests.security_support import shelter

from cityos.api import openapi
from cityos.app import build_app
from cityos.cli import main
from cityos.config import load_settings

API = "/ngsi-ld/v1"
BASE_URL = f"http://{schemathesis_asgi.HOST}"
READ_EXAMPLES, WRITE_EXAMPLES = 25, 10
INVALID_KEY = "ck_0123456789abcdef_" + "Q" * 43


def provision(database_url: str) -> str:
    """A key of role `fuzzer` that may do everything in every tenant, made with the
    `cityos` commands as an operator would; returns the key."""
    runner = CliRunner()
    granted = runner.invoke(main, ["policies", "grant", "--audience", "role:fuzzer",
                                   "--op", "read", "--op", "write", "--op", "subscribe",
                                   "--op", "admin", "--database", database_url])
    assert granted.exit_code == 0, granted.output
    created = runner.invoke(main, ["apikeys", "create", "--name", "fuzzer", "--role",
                                   "fuzzer", "--database", database_url])
    assert created.exit_code == 0, created.output
    return created.output.split("key:")[1].split()[0]


def secure_app(database: Path) -> Any:
    values = {"database_url": f"sqlite:///{database}", "max_body_bytes": 262_144,
              "public_types": ""}
    return build_app(load_settings(values, environ={}))


# The fuzzed app is assembled at collection, so that schemathesis sends every request,
# its own probes without credentials included, to it in-process; its grants and key are
# made with the `cityos` commands before it starts.
_WORK = Path(tempfile.mkdtemp(prefix="cityos-fuzz-auth-"))
atexit.register(shutil.rmtree, _WORK, True)
FUZZ_KEY = provision(f"sqlite:///{_WORK / 'cityos.db'}")
FUZZED = secure_app(_WORK / "cityos.db")
# The document /openapi.json serves (checked in the fixture), sent to the app in-process;
# built without starting the app, which the session below does.
schema = schemathesis.openapi.from_dict(openapi.openapi_document())
schema.app = FUZZED
schema.config.phases.update(phases=["examples", "fuzzing"])
reads = schema.include(method=["GET", "DELETE"])
writes = schema.include(method=["POST", "PUT", "PATCH"])
FUZZ_SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck),
                         phases=[Phase.explicit, Phase.reuse, Phase.generate],
                         report_multiple_bugs=False)


@pytest.fixture(scope="module")
def fuzz_session() -> Iterator[tuple[Any, str]]:
    """A requests-style session reaching the app in-process (it restarts the lifespan
    schemathesis ends after each test), and the key."""
    key = FUZZ_KEY
    with schemathesis_asgi.get_client(FUZZED) as session:
        assert session.get("/openapi.json").json() == openapi.openapi_document()
        created = session.post(f"{API}/entities", json=shelter(), headers={"X-API-Key": key})
        assert created.status_code == 201, created.text
        yield session, key
    schemathesis_asgi.shutdown_lifespans()


def _call(case: Any, fuzz: tuple[Any, str]) -> None:
    session, key = fuzz
    case.call_and_validate(session=session, base_url=BASE_URL, headers={"X-API-Key": key},
                           checks=[not_a_server_error, ignored_auth])


@reads.parametrize()
@settings(FUZZ_SETTINGS, max_examples=READ_EXAMPLES)
def test_authenticated_reads_never_fail_and_enforce_auth(case: Any, fuzz_session: Any) -> None:
    _call(case, fuzz_session)


@writes.parametrize()
@settings(FUZZ_SETTINGS, max_examples=WRITE_EXAMPLES)
def test_authenticated_writes_never_fail_and_enforce_auth(case: Any,
                                                          fuzz_session: Any) -> None:
    _call(case, fuzz_session)


def _secured_operations() -> list[tuple[str, str]]:
    document = openapi.openapi_document()
    return [(method.upper(), path) for path, operations in document["paths"].items()
            for method, operation in operations.items() if operation.get("security")]


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = tmp_path_factory.mktemp("sweep") / "cityos.db"
    provision(f"sqlite:///{database}")
    application = secure_app(database)
    with TestClient(application, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), _secured_operations())
def test_every_secured_operation_refuses_missing_and_invalid_credentials(
        plain_client: TestClient, method: str, path: str) -> None:
    url = re.sub(r"\{[^}]*\}", "urn:ngsi-ld:Thing:x", path)
    body = {"id": "urn:ngsi-ld:Thing:x", "type": "Thing"} if method in (
        "POST", "PUT", "PATCH") else None
    for headers in ({}, {"X-API-Key": INVALID_KEY}, {"Authorization": f"ApiKey {INVALID_KEY}"},
                    {"Authorization": "Bearer not-a-token"}):
        response = plain_client.request(method, url, json=body, headers=headers)
        assert response.status_code == 401, (method, url, headers, response.text[:200])
