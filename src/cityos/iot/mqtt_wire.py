"""The MQTT 3.1.1 packets an ingestion subscriber needs (OASIS MQTT 3.1.1, §2–§3), pure:
CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT encoded; CONNACK, SUBACK, PUBLISH and
PINGRESP decoded incrementally from the bytes as they arrive, many packets per read.

Why not paho: it reads every packet with three `recv` calls and a wake-up of the event
loop of its own, and aiomqtt adds a task and an `asyncio.wait` per message — together
more CPU per measurement than decoding, mapping and authenticating it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
MAX_PACKET = 16 * 1024 * 1024  # a larger packet is a protocol error: the connection ends
SUBSCRIPTION_FAILED = 0x80
CONNACK_REASONS = {1: "unacceptable protocol version", 2: "client identifier rejected",
                   3: "server unavailable", 4: "bad user name or password",
                   5: "not authorized"}


class ProtocolError(Exception):
    """The broker sent something this client cannot read; the connection is dropped."""


class BrokerRefused(Exception):
    """CONNACK with a non-zero return code (§3.2.2.3)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"connection refused by the broker: "
                         f"{CONNACK_REASONS.get(code, 'reason unknown')} (code {code})")
        self.code = code


@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    packet_id: int | None


@dataclass(frozen=True)
class Control:
    """Any other packet: its type and variable header + payload."""

    kind: int
    body: bytes


Packet = Publish | Control


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def connect(client_id: str, keepalive: int, username: str | None,
            password: str | None) -> bytes:
    flags = 0x02  # clean session
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    header = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    return _packet(CONNECT << 4, header + payload)


def subscribe(packet_id: int, filters: list[str], qos: int) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_string(f) + bytes([qos])
                                                   for f in filters)
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def puback(packet_id: int) -> bytes:
    return bytes([PUBACK << 4, 2]) + struct.pack("!H", packet_id)


PINGREQ_PACKET = bytes([PINGREQ << 4, 0])
DISCONNECT_PACKET = bytes([DISCONNECT << 4, 0])


def connack_code(packet: Control) -> int:
    if packet.kind != CONNACK or len(packet.body) != 2:
        raise ProtocolError("expected CONNACK")
    return packet.body[1]


def suback_codes(packet: Control, packet_id: int) -> bytes:
    if packet.kind != SUBACK or len(packet.body) < 3 \
            or struct.unpack_from("!H", packet.body)[0] != packet_id:
        raise ProtocolError("expected SUBACK")
    return packet.body[2:]


class Decoder:
    """Bytes in, complete packets out; keeps a partial packet until the rest arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        start, end = 0, len(buffer)
        while start < end:
            header = _header(buffer, start, end)
            if header is None:
                break
            at, length = header
            if length > MAX_PACKET:
                raise ProtocolError(f"packet of {length} bytes is over the limit")
            if end - at < length:
                break
            packets.append(_decode(buffer[start], bytes(buffer[at:at + length])))
            start = at + length
        del buffer[:start]
        return packets


def _header(buffer: bytearray, start: int, end: int) -> tuple[int, int] | None:
    """Where the body of the packet at `start` begins and its length (§2.2.3); None while
    the length bytes are incomplete."""
    length, shift, at = 0, 0, start + 1
    while at < end:
        byte = buffer[at]
        at += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return at, length
        shift += 7
        if shift > 21:
            raise ProtocolError("malformed remaining length")
    return None


def _decode(first: int, body: bytes) -> Packet:
    kind = first >> 4
    if kind != PUBLISH:
        return Control(kind, body)
    qos = (first >> 1) & 0x03
    if qos > 1:
        raise ProtocolError("PUBLISH with QoS 2 (this client subscribes with QoS 1)")
    if len(body) < 2:
        raise ProtocolError("PUBLISH too short")
    topic_length = struct.unpack_from("!H", body)[0]
    at = 2 + topic_length
    packet_id = None
    if qos:
        if len(body) < at + 2:
            raise ProtocolError("PUBLISH too short")
        packet_id = struct.unpack_from("!H", body, at)[0]
        at += 2
    if len(body) < at:
        raise ProtocolError("PUBLISH too short")
    try:
        topic = body[2:2 + topic_length].decode()
    except UnicodeDecodeError:
        raise ProtocolError("PUBLISH topic is not UTF-8") from None
    return Publish(topic, body[at:], qos, packet_id)
