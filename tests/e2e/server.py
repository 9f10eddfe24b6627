"""Start a real `cityos serve` process on a free port for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`database` is a SQLite file or a database URL; `env` adds CITYOS_* settings;
    `dev=False` starts the server with security on (no --dev)."""

    def __init__(self, database: Path | str, port: int | None = None, *extra: str,
                 env: dict[str, str] | None = None, dev: bool = True) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        database_url = database if isinstance(database, str) else f"sqlite:///{database}"
        environment = {**os.environ, "CITYOS_LOG_LEVEL": "warning", **(env or {})}
        # The server's log goes to a file: a pipe nobody reads would block it when full.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cityos", "serve", "--port", str(self.port),
             "--database", database_url, *(["--dev"] if dev else []), *extra],
            env=environment, stdout=subprocess.DEVNULL, stderr=self._log)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("server did not become ready")

    def log_text(self) -> str:
        """What the server wrote to its log so far."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
