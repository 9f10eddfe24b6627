"""Turns committed changes into stored notifications: journal → matcher → outbox.

The engine reads the change journal after its cursor, asks the subscription matcher which
notifications the changes cause, and in ONE write transaction stores those notifications in
the outbox, advances the cursor and prunes the consumed journal rows. A crash before that
commit leaves the changes in the journal to be matched again after the restart; a crash
after it leaves the notifications in the outbox. Either way nothing is lost and nothing is
matched twice.

It runs as soon as a commit is announced on the event bus, and every `poll_interval`
seconds as a safety net (for instance if an announcement was lost to an error).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from cityos.broker.delivery.records import change_record, stored
from cityos.broker.events import EntityEvent
from cityos.broker.notification import ChangeRecord, NotificationMatcher, OutgoingNotification
from cityos.storage.delivery import DeliveryLog, OutboxEntry

log = logging.getLogger(__name__)
BATCH = 500  # journal rows matched per transaction
CURSOR_EVERY = 0.5  # seconds between cursor writes while changes match nothing
MATCH_TRIES = 3  # a batch the matcher keeps failing on is then matched change by change

Handoff = Callable[[Sequence[OutboxEntry], Sequence[OutgoingNotification]], None]


class MatchingEngine:
    def __init__(self, journal: DeliveryLog, matcher: NotificationMatcher, handoff: Handoff,
                 *, poll_interval: float = 1.0) -> None:
        self._journal = journal
        self._matcher = matcher
        self._handoff = handoff
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        # One pass at a time: two passes reading from the same cursor would match the same
        # changes twice (the loop and an explicit catch_up can overlap).
        self._pass = asyncio.Lock()
        self._cursor = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._persisted_at = 0.0
        self._persisted_cursor = 0
        self.matched_changes = 0

    async def start(self) -> None:
        self._cursor = self._persisted_cursor = await self._journal.cursor()
        self._task = asyncio.create_task(self._run(), name="notification-matching")

    def wake(self) -> None:
        """Something was committed: look at the journal now."""
        self._wakeup.set()

    async def on_events(self, events: Sequence[EntityEvent]) -> None:
        """Event bus handler (events are published after their commit)."""
        self._wakeup.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Match what is committed by now, then stop. The loop is asked to finish rather
        than cancelled: a cancelled matching transaction could still commit, leaving its
        notifications in the outbox unsent until the next start."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.warning("matching did not finish in %.0f s; the rest waits for the next "
                        "start", timeout)
            self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            # Woken by a commit, or by the poll timer (a timer handle per wait is cheaper
            # than wait_for's task per wait; this loop runs once per write group).
            timer = loop.call_later(self._poll_interval, self._wakeup.set)
            try:
                await self._wakeup.wait()
            finally:
                timer.cancel()
            self._wakeup.clear()
            try:
                await self.catch_up()
            except Exception:
                log.exception("matching committed changes failed; retrying")
                if not self._stopping:
                    await asyncio.sleep(self._poll_interval)
        try:
            await self.catch_up()  # stopping: this pass also stores the cursor
        except Exception:
            log.exception("could not match the last changes; they wait for the next start")

    async def catch_up(self) -> None:
        """Match every change committed so far."""
        async with self._pass:
            await self._catch_up()

    async def _catch_up(self) -> None:
        while True:
            entries = await self._journal.read_changes(self._cursor, BATCH)
            if not entries:
                if self._cursor > self._persisted_cursor and self._persist_due():
                    await self._journal.commit_matched([], self._cursor)
                    self._persisted(self._cursor)
                return
            changes = [change_record(e) for e in entries]
            notifications = await self._match(changes)
            self._cursor = entries[-1].seq
            self.matched_changes += len(entries)
            if notifications or self._persist_due():
                outbox = await self._journal.commit_matched(
                    [stored(n) for n in notifications], self._cursor)
                self._persisted(self._cursor)
                self._handoff(outbox, notifications)
            if len(entries) < BATCH:
                return

    def _persisted(self, cursor: int) -> None:
        self._persisted_cursor = cursor
        self._persisted_at = time.monotonic()

    def _persist_due(self) -> bool:
        """Whether a batch that caused no notification should still store the cursor.
        Storing it at most every CURSOR_EVERY seconds saves a write transaction per batch
        when writes match nothing (the common case); after a crash such changes are
        matched again, which again notifies nobody."""
        return self._stopping or time.monotonic() - self._persisted_at >= CURSOR_EVERY

    async def _match(self, changes: list[ChangeRecord]) -> list[OutgoingNotification]:
        for attempt in range(MATCH_TRIES):
            try:
                return await self._matcher.match(changes)
            except Exception:
                log.exception("subscription matching failed (try %d)", attempt + 1)
                await asyncio.sleep(0.05 * 2 ** attempt)
        # One bad change must not stop notifications for all the others: match them one by
        # one and skip (loudly) only those the matcher cannot handle.
        found: list[OutgoingNotification] = []
        for change in changes:
            try:
                found.extend(await self._matcher.match([change]))
            except Exception:
                log.error("change %d of %s could not be matched and is skipped",
                          change.seq, change.entity_id, exc_info=True)
        return found
