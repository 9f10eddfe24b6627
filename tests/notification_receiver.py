"""A real HTTP notification receiver on 127.0.0.1 for tests: records what it is sent,
answers with a chosen status after a chosen delay, and can be stopped and started again
on the same port (connections refused meanwhile)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import h11
import orjson


@dataclass
class Received:
    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class NotificationReceiver:
    port: int = 0
    status: int = 200
    delay: float = 0.0
    script: list[int] = field(default_factory=list)  # statuses for the next requests
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context
    received: list[Received] = field(default_factory=list)  # accepted notifications
    attempts: list[float] = field(default_factory=list)  # arrival time of every request
    connections: int = 0  # connections accepted so far
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/notify"

    async def start(self) -> NotificationReceiver:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  reuse_address=True, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` notifications arrived; fails the test otherwise."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{len(self.received)} of {count} notifications arrived"
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return self.received

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections += 1
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, h11.ProtocolError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request, body = event, b""
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                await self._answer(conn, writer, request, body)
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return

    async def _answer(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                      request: h11.Request, body: bytes) -> None:
        self.attempts.append(time.monotonic())
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.script.pop(0) if self.script else self.status
        if 200 <= status < 300:
            headers = {k.decode().lower(): v.decode() for k, v in request.headers}
            self.received.append(Received(time.monotonic(), request.target.decode(), headers,
                                          orjson.loads(body) if body else None))
            self._arrived.set()
        writer.write(conn.send(h11.Response(status_code=status,
                                            headers=[("Content-Length", "0")])))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
