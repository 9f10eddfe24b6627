"""WAL checkpoints off the writer's path.

In WAL mode SQLite appends committed pages to the `-wal` file, and a checkpoint copies
them back into the database file. By default the connection whose COMMIT takes the WAL
past 1,000 pages runs that checkpoint inside the COMMIT — here the single writer thread,
so every few hundred writes one group commit waited for a checkpoint (py-spy under a
PATCH load: COMMIT a third of the writer's time). A Checkpointer thread with its own
connection runs a PASSIVE checkpoint every INTERVAL seconds instead: PASSIVE never
blocks the writer or the readers (it copies what no reader still needs and leaves the
rest for the next pass), and SQLite releases the GIL while it works.

The writer keeps a backstop (`BACKSTOP_PAGES` for its own automatic checkpoint), so
the WAL stays bounded if this thread ever falls behind, and `journal_size_limit` trims
the `-wal` file when SQLite starts it over.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
INTERVAL = 0.2  # seconds between passive checkpoints
BACKSTOP_PAGES = 50_000  # the writer's own automatic checkpoint (about 200 MB of WAL)
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the -wal file is trimmed to when restarted


# PRAGMAs take no parameters: the values above, written out (a test checks the first).
_WRITER_PRAGMAS = ("PRAGMA wal_autocheckpoint=50000", "PRAGMA journal_size_limit=67108864")


def configure_writer(conn: sqlite3.Connection) -> None:
    """The writer connection checkpoints only as a backstop."""
    for pragma in _WRITER_PRAGMAS:
        conn.execute(pragma)


class Checkpointer:
    def __init__(self, connect: Callable[[], sqlite3.Connection],
                 interval: float = INTERVAL) -> None:
        self._connect = connect
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cityos-sqlite-checkpoint",
                                        daemon=True)
        self.passes = 0  # checkpoints run (for tests and diagnostics)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = self._connect()
        try:
            while not self._stopping.wait(self._interval):
                self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.passes += 1
        except sqlite3.Error:  # a busy or failing pass must not end the thread
            log.warning("WAL checkpoint failed; the next pass tries again", exc_info=True)
