"""The writer's backlog: bounded by measurements, not items; producers wait at the limit;
items come out in arrival order."""

from __future__ import annotations

import asyncio

from cityos.iot.backlog import Backlog


class Item(list[int]):
    pass


async def test_backlog_is_bounded_by_measurements_and_keeps_order() -> None:
    backlog: Backlog[Item] = Backlog(limit=5)
    await backlog.put(Item([1, 2, 3]))
    await backlog.put(Item([4, 5, 6]))  # below the limit when it came: goes in
    assert backlog.size == 6
    third = asyncio.create_task(backlog.put(Item([7])))
    await asyncio.sleep(0.01)
    assert not third.done() and backlog.size == 6  # at the limit: the producer waits
    assert backlog.get_nowait() == [1, 2, 3]
    await asyncio.wait_for(third, 1)
    assert backlog.size == 4
    assert [await backlog.get(), await backlog.get()] == [[4, 5, 6], [7]]
    assert backlog.empty() and backlog.size == 0


async def test_get_waits_for_an_item() -> None:
    backlog: Backlog[Item] = Backlog(limit=10)
    getting = asyncio.create_task(backlog.get())
    await asyncio.sleep(0.01)
    assert not getting.done()
    await backlog.put(Item([9]))
    assert await asyncio.wait_for(getting, 1) == [9]
