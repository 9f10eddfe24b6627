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
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import httpx

Origin = tuple[str, str, int]
MAX_ANSWER_BYTES = 65_536  # an answer body longer than this closes the connection
MAX_HEAD_BYTES = 65_536
MAX_IDLE_PER_ORIGIN = 32
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


@dataclass(frozen=True)
class _Target:
    origin: Origin
    prefix: bytes  # request line, Host, User-Agent, Authorization


class KeepAliveClient:
    """POSTs to any number of endpoints, keeping up to MAX_IDLE_PER_ORIGIN connections
    alive per origin; one stale kept-alive connection is replaced transparently."""

    def __init__(self, ssl_context: ssl.SSLContext, *, connect_timeout: float,
                 read_timeout: float) -> None:
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: dict[Origin, list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}

    async def post(self, uri: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """The answer's status code; httpx exceptions for connection failures, timeouts
        and broken answers, ValueError for a URI or header that cannot be sent."""
        target = self._target(uri)
        payload = b"".join((target.prefix, _header_block(headers),
                            b"Content-Length: %d\r\n\r\n" % len(body), body))
        idle = self._idle.get(target.origin)
        while idle:
            connection = idle.pop()
            if not connection.usable():
                connection.close()
                continue
            try:
                return await self._exchange(target.origin, connection, payload, True)
            except _Stale:
                continue  # the server closed it while idle: try a fresh one
        connection = await self._connect(target.origin, self._connect_timeout)
        try:
            return await self._exchange(target.origin, connection, payload, False)
        except _Stale:
            raise httpx.RemoteProtocolError("the server closed the connection "
                                            "without answering") from None

    def _target(self, uri: str) -> _Target:
        target = self._targets.get(uri)
        if target is None:
            if len(self._targets) > 10_000:
                self._targets.clear()
            target = self._targets[uri] = _parse_target(uri)
        return target

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

    async def _exchange(self, origin: Origin, connection: _Connection, payload: bytes,
                        reused: bool) -> int:
        try:
            connection.writer.write(payload)
            # One deadline for sending the rest of the request and reading the whole answer:
            # it also bounds an endpoint that answers a byte at a time.
            async with asyncio.timeout(self._read_timeout):
                if connection.writer.transport.get_write_buffer_size():
                    await connection.writer.drain()
                status, keep = await _read_answer(connection.reader)
        except _Stale:
            connection.close()
            raise
        except TimeoutError:
            connection.close()
            raise httpx.ReadTimeout("no answer in time") from None
        except ConnectionError as error:
            connection.close()
            if reused:
                raise _Stale() from None  # reset before any answer: closed while idle
            raise httpx.ReadError(f"{type(error).__name__}: {error}") from None
        except (OSError, ValueError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as error:
            connection.close()
            raise httpx.ReadError(f"{type(error).__name__}: {error}") from None
        except BaseException:  # cancelled mid-exchange: the connection is in an unknown state
            connection.close()
            raise
        if keep:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < MAX_IDLE_PER_ORIGIN:
                idle.append(connection)
            else:
                connection.close()
        else:
            connection.close()
        return status

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


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
