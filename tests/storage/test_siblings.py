"""One rule picks each backend's sibling store, through wrappers of the entity store."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityos.storage.siblings import sibling_store
from cityos.storage.sqlite.store import SqliteStore
from cityos.storage.sqlite.subscriptions import SqliteSubscriptionStore


class Wrapper:
    def __init__(self, inner: object) -> None:
        self.inner = inner


def test_the_backend_class_is_picked_by_name_even_behind_a_wrapper(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "c.db"))
    assert isinstance(sibling_store(store, "subscriptions", "SubscriptionStore"),
                      SqliteSubscriptionStore)
    assert isinstance(sibling_store(Wrapper(store), "subscriptions", "SubscriptionStore"),
                      SqliteSubscriptionStore)


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(TypeError, match="SubscriptionStore"):
        sibling_store(object(), "subscriptions", "SubscriptionStore")
