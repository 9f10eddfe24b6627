"""The single writer thread: every change goes through one connection, in group commits.

Requests queue write jobs; the thread takes every job waiting, runs each inside its own
SAVEPOINT (so one failing job never undoes another), commits once, and only then resolves
the jobs' futures. An acknowledged write is therefore always committed.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

Job = Callable[[sqlite3.Connection], Any]
_STOP = object()
MAX_GROUP = 256


class WriterThread:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cityos-sqlite-writer",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    async def submit(self, job: Job) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((job, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                group.append(item)
            self._commit_group(group)

    def _commit_group(self, group: list[Any]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for job, _, _ in group:
                outcomes.append(self._run_job(job))
            self._conn.execute("COMMIT")
        except BaseException as exc:  # the commit itself failed: nothing was written
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            outcomes = [(False, exc)] * len(group)
        for (_, loop, future), (ok, value) in zip(group, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, future, ok, value)

    def _run_job(self, job: Job) -> tuple[bool, Any]:
        self._conn.execute("SAVEPOINT job")
        try:
            value = job(self._conn)
        except BaseException as exc:
            self._conn.execute("ROLLBACK TO job")
            self._conn.execute("RELEASE job")
            return False, exc
        self._conn.execute("RELEASE job")
        return True, value


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
