"""One socket write per response instead of two.

uvicorn's HTTP protocol writes a response's status line and headers, then its body, as
two `transport.write` calls; on uvloop each is a `send` system call at once. On loopback
and in virtual machines a send costs more than everything else uvicorn does for a small
response (py-spy: a third of the event loop's time on `GET /entities/{id}`), so the
City OS hands uvicorn's protocol a transport that gathers what is written during one
pass of the event loop and sends it with one call at the end of that pass (as a socket
with TCP_CORK would, without the extra system calls). Nothing is held past that pass:
the data goes out before the loop next waits for I/O, and `close`, `write_eof` and
`set_protocol` send what is gathered first; `abort` drops it, as it drops the transport's
own buffer.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """Delegates to `transport`, gathering writes until the end of the loop pass."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop
                 ) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._gathered: list[bytes] = []
        self._scheduled = False

    # -- writing ------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._gathered.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._send_gathered)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _send_gathered(self) -> None:
        self._scheduled = False
        if not self._gathered:
            return
        data = self._gathered[0] if len(self._gathered) == 1 else b"".join(self._gathered)
        self._gathered.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        self._send_gathered()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        gathered = sum(len(data) for data in self._gathered)
        return self._transport.get_write_buffer_size() + gathered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None
                                ) -> None:
        self._transport.set_write_buffer_limits(high, low)

    # -- closing ------------------------------------------------------------------------
    def close(self) -> None:
        self._send_gathered()
        self._transport.close()

    def abort(self) -> None:
        self._gathered.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    # -- reading and the rest -----------------------------------------------------------
    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._send_gathered()  # e.g. a WebSocket upgrade: the new protocol writes next
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a CoalescingTransport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport has the Transport methods without subclassing it
        stream = cast(asyncio.Transport, transport)
        super().connection_made(CoalescingTransport(stream, asyncio.get_running_loop()))
