"""The single writer thread: every change goes through one connection, in group commits.

Requests queue write jobs; the thread takes every job waiting, runs them in one
transaction (consecutive jobs that can, as one call: JoinableJob), commits once, and only
then resolves the jobs' futures. An acknowledged write
is therefore always committed. If any job of a group raises, the whole group is rolled back
and every job is run again in a transaction of its own, so one failing job never undoes
another (jobs are deterministic functions of the database state, so re-running is safe).
No SAVEPOINT per job: savepoints around R*Tree writes are costly on large databases.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)
Job = Callable[[sqlite3.Connection], Any]
Settled = tuple["asyncio.Future[Any]", bool, Any]  # a job's future, success, result/error
_STOP = object()
MAX_GROUP = 256


STATISTICS_EVERY = 200  # groups between planner statistics checks


class WriterThread:
    def __init__(self, conn: sqlite3.Connection,
                 maintenance: Callable[[sqlite3.Connection], object] | None = None, *,
                 on_rollback: Sequence[Callable[[], object]] = (),
                 on_commit: Sequence[Callable[[], object]] = ()) -> None:
        self._conn = conn
        self._maintenance = maintenance
        self._on_rollback = on_rollback
        self._on_commit = on_commit
        self._groups = 0
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
        try:
            outcomes = self._run_in_transaction([job for job, _, _ in group])
        except BaseException:
            outcomes = [self._run_alone(job) for job, _, _ in group]
        # One wake-up per event loop for the whole group (not one per job): each wake-up
        # is a write to the loop's self-pipe and a pass of its selector.
        by_loop: dict[asyncio.AbstractEventLoop, list[Settled]] = {}
        for (_, loop, future), (ok, value) in zip(group, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that loop has closed: nobody waits for these any more
                log.warning("write results for a closed event loop were dropped")
        self._groups += 1
        if self._maintenance is not None and self._groups % STATISTICS_EVERY == 0:
            try:
                self._maintenance(self._conn)
            except Exception:  # maintenance must never stop the writer
                log.exception("database maintenance failed")

    def _run_in_transaction(self, jobs: list[Job]) -> list[tuple[bool, Any]]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            results = [(True, result) for run in _runs(jobs)
                       for result in _run_jobs(self._conn, run)]
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            for forget in self._on_rollback:
                forget()
            raise
        for publish in self._on_commit:
            try:
                publish()
            except Exception:  # committed is committed: never run these jobs again
                log.exception("a commit listener failed")
        return results

    def _run_alone(self, job: Job) -> tuple[bool, Any]:
        try:
            [outcome] = self._run_in_transaction([job])
        except BaseException as exc:
            return False, exc
        return outcome


class JoinableJob:
    """A job that may run together with the jobs after it in the queue (one call doing
    the work of several, e.g. mutations.MutationJob); each still gets its own result."""

    __slots__ = ()

    def __call__(self, conn: sqlite3.Connection) -> Any:
        raise NotImplementedError

    def joins(self, run: list[Any], other: object) -> bool:
        """Can `other` run in the same call as this job and the `run` gathered so far
        (this job first)?"""
        raise NotImplementedError

    def run_together(self, conn: sqlite3.Connection, jobs: list[Any]) -> list[Any]:
        """Run this job and the `jobs` it joins (itself first): one result per job."""
        raise NotImplementedError


def _runs(jobs: list[Job]) -> list[list[Job]]:
    """Consecutive jobs that join (JoinableJob) in one list; every other job alone."""
    runs: list[list[Job]] = []
    for job in jobs:
        head = runs[-1][0] if runs else None
        if isinstance(head, JoinableJob) and head.joins(runs[-1], job):
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _run_jobs(conn: sqlite3.Connection, run: list[Job]) -> list[Any]:
    """The result of each job of a run, in order."""
    head = run[0]
    if len(run) == 1 or not isinstance(head, JoinableJob):
        return [job(conn) for job in run]
    return head.run_together(conn, run)


def _settle_all(settled: list[Settled]) -> None:
    for future, ok, value in settled:
        _settle(future, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
