"""A lean HTTP/1.1 keep-alive client for notifications.

httpx.AsyncClient with its default transport cost about a millisecond of CPU per request
here (measured: URL parsing, header models, httpcore and anyio layers), which caps one core
at well under the 2,000 notifications/s we want. Notifications need only a small part of
HTTP: one POST with a body known in advance, an answer whose body is not used, connections
kept alive per origin. This client does just that over asyncio streams. The endpoint URI is
parsed once and its request line and fixed headers reused; the TLS context is httpx's own
(`httpx.create_ssl_context`), and failures are reported as httpx's exception types.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import httpx

Origin = tuple[str, str, int]
MAX_ANSWER_BYTES = 65_536  # an answer body longer than this closes the connection
MAX_HEAD_BYTES = 65_536
MAX_CONNECTIONS_PER_ORIGIN = 32
_BAD_NAME = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")  # RFC 9110 token characters only


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A kept-alive connection was closed by the server before it answered."""


class _Closed(Exception):
    """The server closed the connection after answering an earlier pipelined request:
    this one was not processed and goes again on another connection."""


@dataclass(frozen=True)
class _Target:
    origin: Origin
    prefix: bytes  # request line, Host, User-Agent, Authorization


@dataclass
class _Waiter:
    future: asyncio.Future[int]
    deadline: float  # loop time by which the whole answer must have arrived
    reused: bool  # sent on a connection that had answered before (it may have gone stale)


class _Pipe:
    """One keep-alive connection. Requests written while earlier ones still wait for
    their answers are pipelined (HTTP/1.1, RFC 9112 §9.3.2): all requests handed to it in
    one turn of the event loop go out in one write, and the answers, which come back in
    request order, are read by one task."""

    def __init__(self, connection: _Connection, read_timeout: float) -> None:
        self.connection = connection
        self.waiting: deque[_Waiter] = deque()
        self.answered = 0
        self._read_timeout = read_timeout
        self._out: list[bytes] = []
        self._reader: asyncio.Task[None] | None = None

    def usable(self) -> bool:
        return self.connection.usable()

    def request(self, payload: bytes) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self.waiting.append(_Waiter(future, loop.time() + self._read_timeout,
                                    self.answered > 0))
        self._out.append(payload)
        if len(self._out) == 1:
            loop.call_soon(self._flush)
        if self._reader is None:
            self._reader = loop.create_task(self._read_answers(), name="notification-answers")
        return future

    def _flush(self) -> None:
        data, self._out = b"".join(self._out), []
        if not self.connection.writer.is_closing():
            self.connection.writer.write(data)

    async def _read_answers(self) -> None:
        try:
            while self.waiting:
                head = self.waiting[0]
                async with asyncio.timeout_at(head.deadline):
                    status, keep = await _read_answer(self.connection.reader)
                self.waiting.popleft()
                self.answered += 1
                if not head.future.done():
                    head.future.set_result(status)
                if not keep:
                    self._fail_all(lambda w: _Closed())
        except TimeoutError:
            self._fail_all(lambda w: httpx.ReadTimeout("no answer in time"))
        except _Stale:
            self._fail_all(lambda w: _Stale() if w.reused else httpx.RemoteProtocolError(
                "the server closed the connection without answering"))
        except ConnectionError as error:
            reset = f"{type(error).__name__}: {error}"
            self._fail_all(lambda w: _Stale() if w.reused else httpx.ReadError(reset))
        except (OSError, ValueError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as error:
            broken = f"{type(error).__name__}: {error}"
            self._fail_all(lambda w: httpx.ReadError(broken))
        except BaseException:  # cancelled (client closed): nobody gets an answer any more
            self._fail_all(lambda w: httpx.ReadError("the notification client closed"))
            raise
        finally:
            self._reader = None

    def _fail_all(self, error: Callable[[_Waiter], BaseException]) -> None:
        """Close the connection; every request still waiting fails with `error(waiter)`."""
        self.connection.close()
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(error(waiter))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.connection.close()


class KeepAliveClient:
    """POSTs to any number of endpoints over kept-alive connections, at most
    `connections_per_origin` per origin. While every connection of an origin is busy,
    further requests are pipelined on the least busy one (`connections_per_origin` equal
    to the number of requests sent at once means no pipelining). One stale kept-alive
    connection is replaced transparently; requests an origin left unanswered by closing
    the connection are sent again on a fresh one, and that origin is not pipelined to
    again."""

    def __init__(self, ssl_context: ssl.SSLContext, *, connect_timeout: float,
                 read_timeout: float,
                 connections_per_origin: int = MAX_CONNECTIONS_PER_ORIGIN) -> None:
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._per_origin = max(1, connections_per_origin)
        self._pipes: dict[Origin, list[_Pipe]] = {}
        self._connecting: dict[Origin, int] = {}
        self._opened: dict[Origin, asyncio.Event] = {}  # a connection attempt ended
        self._no_pipelining: set[Origin] = set()
        self._targets: dict[str, _Target] = {}

    async def post(self, uri: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """The answer's status code; httpx exceptions for connection failures, timeouts
        and broken answers, ValueError for a URI or header that cannot be sent."""
        target = self._target(uri)
        payload = b"".join((target.prefix, _header_block(headers),
                            b"Content-Length: %d\r\n\r\n" % len(body), body))
        stale_retried = False
        while True:
            pipe = await self._pipe_for(target.origin)
            try:
                return await pipe.request(payload)
            except _Closed:
                self._no_pipelining.add(target.origin)  # next time: a connection of its own
            except _Stale:
                if stale_retried:
                    raise httpx.RemoteProtocolError("the server closed the connection "
                                                    "without answering") from None
                stale_retried = True  # the server closed it while idle: try a fresh one

    def _target(self, uri: str) -> _Target:
        target = self._targets.get(uri)
        if target is None:
            if len(self._targets) > 10_000:
                self._targets.clear()
            target = self._targets[uri] = _parse_target(uri)
        return target

    async def _pipe_for(self, origin: Origin) -> _Pipe:
        """An idle connection; else a new one while under the limit; else the connection
        with the fewest requests waiting (an origin that refuses pipelining gets a new
        connection instead, as many as requests are in flight)."""
        pipes = self._pipes.setdefault(origin, [])
        while True:
            for pipe in [p for p in pipes if not p.waiting and not p.usable()]:
                pipe.close()
                pipes.remove(pipe)
            idle = [p for p in pipes if not p.waiting]
            if idle:
                return idle[-1]
            opening = self._connecting.get(origin, 0)
            if len(pipes) + opening < self._per_origin or origin in self._no_pipelining:
                return await self._open_pipe(origin, pipes)
            if pipes:
                return min(pipes, key=lambda p: len(p.waiting))
            await self._opened.setdefault(origin, asyncio.Event()).wait()

    async def _open_pipe(self, origin: Origin, pipes: list[_Pipe]) -> _Pipe:
        self._connecting[origin] = self._connecting.get(origin, 0) + 1
        try:
            pipe = _Pipe(await self._connect(origin, self._connect_timeout),
                         self._read_timeout)
        finally:
            self._connecting[origin] -= 1
            opened = self._opened.pop(origin, None)
            if opened is not None:
                opened.set()  # whoever waited for a connection looks again
        pipes.append(pipe)
        return pipe

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        secure = scheme == "https"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._ssl if secure else None,
                    server_hostname=host if secure else None, limit=MAX_HEAD_BYTES)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as error:
            raise httpx.ConnectError(str(error)) from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        for pipes in self._pipes.values():
            for pipe in pipes:
                pipe.close()
        self._pipes.clear()


def _parse_target(uri: str) -> _Target:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URI: {uri!r}")
    host = parts.hostname.encode("idna")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    authority = parts.netloc.rsplit("@", 1)[-1].encode("idna")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [b"POST %s HTTP/1.1" % quote(path, safe="/:@!$&'()*+,;=?%~-._").encode(),
             b"Host: " + authority, b"User-Agent: cityos-notifier"]
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        lines.append(b"Authorization: Basic " + base64.b64encode(credentials.encode()))
    return _Target((parts.scheme, host.decode(), port), b"\r\n".join(lines) + b"\r\n")


def _header_block(headers: list[tuple[str, str]]) -> bytes:
    """The notification's own headers; refuses what would smuggle a header or a request
    (receiverInfo comes from the subscriber)."""
    block = []
    for name, value in headers:
        if not name or _BAD_NAME.search(name) or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} cannot be sent")
        block.append(f"{name}: {value}\r\n")
    return "".join(block).encode("utf-8")


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status and whether the connection may be used again; the body is read (up to
    MAX_ANSWER_BYTES) and dropped."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            raise _Stale() from None
        raise
    status_line, *header_lines = head[:-4].split(b"\r\n")
    version, status = status_line.split(b" ", 2)[:2]
    fields = {n.strip().lower(): v.strip().lower() for n, _, v in
              (line.partition(b":") for line in header_lines)}
    keep = version == b"HTTP/1.1" and fields.get(b"connection") != b"close"
    code = int(status)
    if code in (204, 304) or 100 <= code < 200:
        return code, keep
    if b"content-length" in fields:
        length = int(fields[b"content-length"])
        if length > MAX_ANSWER_BYTES:
            return code, False
        await reader.readexactly(length)
    elif fields.get(b"transfer-encoding", b"").endswith(b"chunked"):
        keep = await _skip_chunks(reader) and keep
    else:
        with contextlib.suppress(asyncio.LimitOverrunError, ValueError):
            await reader.read(MAX_ANSWER_BYTES)  # the body runs to the end of the connection
        keep = False
    return code, keep


async def _skip_chunks(reader: asyncio.StreamReader) -> bool:
    """Read a chunked body; False when it was too long to finish."""
    total = 0
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        total += size
        if total > MAX_ANSWER_BYTES:
            return False
        await reader.readexactly(size + 2)
        if size == 0:
            return True
