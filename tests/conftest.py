"""Fixtures shared by the whole suite: an in-process City OS on a fresh SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A City OS on its own database, reached in-process over the real ASGI app."""
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'cityos.db'}"},
                             environ={})
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026") as test_client:
        yield test_client
