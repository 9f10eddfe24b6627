"""Notification identifiers: UUID-shaped, unique within a process, across processes and
after a fork, without the system's random source per identifier
(cityos.ngsild.subscription.ids)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import uuid

import pytest

from cityos.ngsild.subscription.ids import COUNTER_BITS, NotificationIds, uuid8_prefix
from cityos.ngsild.subscription.notification import (
    NOTIFICATION_ID_PREFIX,
    notification_body,
)

PREFIX = NOTIFICATION_ID_PREFIX
_PRINT_IDS = ("from cityos.ngsild.subscription.notification import NOTIFICATION_IDS as ids\n"
              "print('\\n'.join(ids.next() for _ in range(2000)))")


def as_uuid(notification_id: str) -> uuid.UUID:
    assert notification_id.startswith(PREFIX)
    return uuid.UUID(notification_id.removeprefix(PREFIX))


def test_ids_are_version_8_uuids_with_the_rfc_variant() -> None:
    ids = NotificationIds(PREFIX)
    for _ in range(50):
        value = as_uuid(ids.next())
        assert value.version == 8
        assert value.variant == uuid.RFC_4122


def test_ids_of_one_process_are_all_different_and_count_up() -> None:
    ids = NotificationIds(PREFIX)
    made = [ids.next() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert [as_uuid(i).int & ((1 << COUNTER_BITS) - 1) for i in made[:3]] == [0, 1, 2]


def test_the_random_source_is_read_once_not_per_id() -> None:
    reads: list[int] = []

    def entropy(n: int) -> bytes:
        reads.append(n)
        return os.urandom(n)

    ids = NotificationIds(PREFIX, entropy)
    for _ in range(1000):
        ids.next()
    assert reads == [10]


def test_two_processes_never_share_an_id() -> None:
    runs = [subprocess.run([sys.executable, "-c", _PRINT_IDS], capture_output=True,
                           text=True, check=True, timeout=60).stdout.split()
            for _ in range(2)]
    assert len(runs[0]) == len(runs[1]) == 2000
    assert not set(runs[0]) & set(runs[1])
    assert runs[0][0][:-12] != runs[1][0][:-12]  # different random prefixes


def _child_ids(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from cityos.ngsild.subscription.notification import NOTIFICATION_IDS
    queue.put([NOTIFICATION_IDS.next() for _ in range(100)])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_continue_its_parents_sequence() -> None:
    from cityos.ngsild.subscription.notification import NOTIFICATION_IDS
    before = NOTIFICATION_IDS.next()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_ids, args=(queue,))
    child.start()
    from_child = queue.get(timeout=30)
    child.join(timeout=30)
    after = [NOTIFICATION_IDS.next() for _ in range(100)]
    assert from_child[0][:-12] != before[:-12]
    assert not set(from_child) & {before, *after}


def test_running_out_of_counter_draws_a_new_prefix() -> None:
    ids = NotificationIds(PREFIX, first=(1 << COUNTER_BITS) - 2)
    last_of_first = [ids.next(), ids.next()]
    reseeded = ids.next()
    assert last_of_first[1].endswith("ffffffffffff")
    assert reseeded[:-12] != last_of_first[1][:-12]
    assert reseeded.endswith("000000000000")


def test_prefix_needs_ten_random_bytes() -> None:
    with pytest.raises(ValueError):
        uuid8_prefix(b"short")


def test_notification_bodies_get_distinct_ids() -> None:
    bodies = [notification_body("urn:ngsi-ld:Subscription:1", [], "2026-01-01T00:00:00Z")
              for _ in range(100)]
    assert len({b["id"] for b in bodies}) == 100
    assert all(as_uuid(b["id"]).version == 8 for b in bodies)
