"""A lean webhook receiver and a lean HTTP/1.1 load client for the notification scenarios
(asyncio protocols, no framework), so the bench process itself is not the bottleneck."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@dataclass
class Webhook:
    """Records (perf_counter at arrival, body) of every POST it is sent; answers 200."""

    arrivals: list[tuple[float, bytes]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> Webhook:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _WebhookProtocol(self.arrivals),
                                                "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


class _WebhookProtocol(asyncio.Protocol):
    def __init__(self, arrivals: list[tuple[float, bytes]]) -> None:
        self._arrivals = arrivals
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self._buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            body = self._buffer[end + 4:end + 4 + length]
            self._buffer = self._buffer[end + 4 + length:]
            self._arrivals.append((time.perf_counter(), body))
            assert self._transport is not None
            self._transport.write(_OK)


class RawClient:
    """One keep-alive connection; `request` returns the status after reading the answer."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> RawClient:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        return self

    async def request(self, method: str, path: str, body: bytes) -> int:
        assert self._reader is not None and self._writer is not None
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self._reader.readexactly(length)
        return int(head[9:12])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
