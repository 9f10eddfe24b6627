"""One subscriber connection to an MQTT 3.1.1 broker over asyncio streams (TLS when given
a context): connect with user name and password, subscribe, then read the socket in large
chunks and hand every PUBLISH of a chunk to the caller at once. A QoS 1 message is
acknowledged (PUBACK) once the caller has taken it; while the caller waits (its queue is
full) nothing more is read, so the broker holds the rest (TCP flow control).

Keep-alive (§3.1.2.10): a PINGREQ every half keep-alive period; a connection that has
sent nothing (not even a PINGRESP) for 1.5 periods while we were reading is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable

from cityos.iot.mqtt_wire import (
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    SUBSCRIPTION_FAILED,
    BrokerRefused,
    Control,
    Decoder,
    Packet,
    ProtocolError,
    Publish,
    connack_code,
    connect,
    puback,
    suback_codes,
    subscribe,
)

READ_SIZE = 64 * 1024
# Messages handed over at once; between two slices the event loop runs other tasks (the
# writer, HTTP requests), so a large read never holds it for long.
SLICE = 256
HANDSHAKE_TIMEOUT = 10.0
SUBSCRIBE_ID = 1
Deliver = Callable[[list[Publish]], Awaitable[None]]


class SubscriberConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 keepalive: int) -> None:
        self._reader = reader
        self._writer = writer
        self._keepalive = keepalive
        self._decoder = Decoder()
        self._pending: list[Packet] = []  # decoded during the handshake, not yet handled
        self._early: list[Publish] = []  # PUBLISH sent before SUBACK (§3.8.4 allows it)
        self._last_heard = time.monotonic()
        self._delivering = False  # while the caller holds messages, nothing is read
        self._silent = False  # given up by keep-alive

    @classmethod
    async def open(cls, host: str, port: int, tls: ssl.SSLContext | None, *,
                   client_id: str, username: str | None, password: str | None,
                   filters: list[str], keepalive: int) -> SubscriberConnection:
        """Connected and subscribed; raises BrokerRefused, ProtocolError, OSError (TLS
        errors are ssl.SSLError) or TimeoutError."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None,
            limit=READ_SIZE), HANDSHAKE_TIMEOUT)
        connection = cls(reader, writer, keepalive)
        try:
            await asyncio.wait_for(connection._handshake(client_id, username, password,
                                                         filters), HANDSHAKE_TIMEOUT)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _handshake(self, client_id: str, username: str | None, password: str | None,
                         filters: list[str]) -> None:
        self._writer.write(connect(client_id, self._keepalive, username, password))
        code = connack_code(_control(await self._next()))
        if code:
            raise BrokerRefused(code)
        self._writer.write(subscribe(SUBSCRIBE_ID, filters, qos=1))
        while True:
            packet = await self._next()
            if isinstance(packet, Publish):
                self._early.append(packet)
                continue
            if SUBSCRIPTION_FAILED in suback_codes(packet, SUBSCRIBE_ID):
                raise ProtocolError("the broker refused the subscription (check its ACL)")
            self._early += [p for p in self._pending if isinstance(p, Publish)]
            self._pending = []
            return

    async def _next(self) -> Packet:
        while not self._pending:
            self._pending = self._decoder.feed(await self._read())
        return self._pending.pop(0)

    async def _read(self) -> bytes:
        data = await self._reader.read(READ_SIZE)
        if not data and self._silent:
            raise TimeoutError(f"no answer from the broker for {self._keepalive * 1.5:g} s "
                               "(keep-alive)")
        if not data:
            raise ConnectionError("the broker closed the connection")
        self._last_heard = time.monotonic()
        return data

    async def receive(self, deliver: Deliver) -> None:
        """Hand over messages until the connection ends (raises why)."""
        pinger = asyncio.get_running_loop().create_task(self._keep_alive())
        try:
            if self._early:
                await self._take(self._early, deliver)
                self._early = []
            while True:
                packets = self._decoder.feed(await self._read())
                publishes = [p for p in packets if isinstance(p, Publish)]
                for start in range(0, len(publishes), SLICE):
                    if start:
                        await asyncio.sleep(0)
                    await self._take(publishes[start:start + SLICE], deliver)
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _take(self, publishes: list[Publish], deliver: Deliver) -> None:
        self._delivering = True
        try:
            await deliver(publishes)
        finally:
            self._delivering = False
            self._last_heard = time.monotonic()  # silence while not reading is not death
        acks = [puback(p.packet_id) for p in publishes if p.packet_id is not None]
        if acks:
            self._writer.write(b"".join(acks))

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive / 2)
            if not self._delivering \
                    and time.monotonic() - self._last_heard > self._keepalive * 1.5:
                self._silent = True
                self._writer.transport.abort()  # the pending read ends
                return
            self._writer.write(PINGREQ_PACKET)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if not self._writer.is_closing():
                self._writer.write(DISCONNECT_PACKET)
            self._writer.close()


def _control(packet: Packet) -> Control:
    if not isinstance(packet, Control):
        raise ProtocolError("expected CONNACK, got PUBLISH")
    return packet
