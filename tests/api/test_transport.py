"""The coalescing transport under a real uvicorn server (uvloop, httptools) on a real
socket: every response arrives whole and in order — small, streamed, large enough for
flow control, pipelined, HEAD, Connection: close — and a small response leaves the
server in one write to the socket instead of two."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from tests.e2e.server import free_port

from cityos.api.transport import CoalescingHttpToolsProtocol, CoalescingTransport

BIG = bytes(range(256)) * 20_000  # 5 MB: more than the socket takes at once
WRITES: list[int] = []  # sizes of the writes that reached the real transport


class CountingTransport:
    """Passes everything to the real transport, noting the size of each write."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(len(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountedProtocol(CoalescingHttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        counted: Any = CountingTransport(transport)  # type: ignore[arg-type]
        super(CoalescingHttpToolsProtocol, self).connection_made(
            CoalescingTransport(counted, asyncio.get_running_loop()))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(5):
            await send({"type": "http.response.body", "body": b"part%d;" % n,
                        "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"end"})
        return
    body = BIG if path == "/big" else path.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def served(protocol: type[CoalescingHttpToolsProtocol]) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol,
                                           log_level="warning", loop="uvloop"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def read_response(sock: socket.socket, buffer: bytearray, head_only: bool = False
                  ) -> tuple[bytes, bytes]:
    """One response's head and body (Content-Length or chunked) from `sock`."""
    while b"\r\n\r\n" not in buffer:
        buffer += receive(sock)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    if head_only:
        return head, b""
    headers = {line.split(b":")[0].lower(): line.split(b":", 1)[1].strip()
               for line in head.split(b"\r\n")[1:]}
    if b"content-length" in headers:
        length = int(headers[b"content-length"])
        while len(buffer) < length:
            buffer += receive(sock)
        body = bytes(buffer[:length])
        buffer[:] = buffer[length:]
        return head, body
    body = b""
    while True:  # chunked
        while b"\r\n" not in buffer:
            buffer += receive(sock)
        size_line, _, _ = bytes(buffer).partition(b"\r\n")
        size = int(size_line, 16)
        while len(buffer) < len(size_line) + 2 + size + 2:
            buffer += receive(sock)
        body += bytes(buffer[len(size_line) + 2:len(size_line) + 2 + size])
        buffer[:] = buffer[len(size_line) + 2 + size + 2:]
        if size == 0:
            return head, body


def receive(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    assert data, "connection closed early"
    return data


def request(path: str, method: str = "GET", close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


@pytest.fixture
def port() -> Iterator[int]:
    with served(CoalescingHttpToolsProtocol) as bound:
        yield bound


def test_pipelined_small_streamed_big_and_head_responses_arrive_whole(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("/a") + request("/stream") + request("/big") + request("/b")
                     + request("/c", method="HEAD"))
        buffer = bytearray()
        assert read_response(sock, buffer)[1] == b"/a"
        assert read_response(sock, buffer)[1] == b"part0;part1;part2;part3;part4;end"
        assert read_response(sock, buffer)[1] == BIG
        assert read_response(sock, buffer)[1] == b"/b"
        head, _ = read_response(sock, buffer, head_only=True)
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: 2" in head


def test_connection_close_sends_the_response_then_closes(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("/last", close=True))
        buffer = bytearray()
        head, body = read_response(sock, buffer)
        assert body == b"/last" and b"connection: close" in head.lower()
        assert sock.recv(1) == b""  # closed after everything was sent


def test_a_small_response_is_one_write() -> None:
    WRITES.clear()
    with served(CountedProtocol) as bound, \
            socket.create_connection(("127.0.0.1", bound), timeout=10) as sock:
        for n in range(5):
            sock.sendall(request(f"/r{n}"))
            head, body = read_response(sock, bytearray())
            assert body == f"/r{n}".encode()
            assert len(WRITES) == n + 1, WRITES  # head and body in one write
            assert WRITES[-1] == len(head) + 4 + len(body)
