"""MQTT 3.1.1 packets of the ingestion subscriber: encodings against the specification's
examples, and the incremental decoder on packets split anywhere."""

from __future__ import annotations

import struct

import pytest

from cityos.iot.mqtt_wire import (
    MAX_PACKET,
    BrokerRefused,
    Control,
    Decoder,
    ProtocolError,
    Publish,
    _remaining_length,
    connack_code,
    connect,
    puback,
    suback_codes,
    subscribe,
)


def publish_packet(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0) -> bytes:
    body = struct.pack("!H", len(topic.encode())) + topic.encode()
    if qos:
        body += struct.pack("!H", packet_id)
    body += payload
    return bytes([0x30 | (qos << 1)]) + _remaining_length(len(body)) + body


def test_remaining_length_examples_of_the_specification() -> None:  # §2.2.3
    for length, encoded in ((0, "00"), (127, "7f"), (128, "8001"), (16_383, "ff7f"),
                            (16_384, "808001"), (2_097_151, "ffff7f"),
                            (2_097_152, "80808001"), (268_435_455, "ffffff7f")):
        assert _remaining_length(length).hex() == encoded


def test_connect_subscribe_and_puback_bytes() -> None:
    packet = connect("cid", 30, "user", "pw")
    assert packet == (b"\x10\x19\x00\x04MQTT\x04\xc2\x00\x1e" b"\x00\x03cid"
                      b"\x00\x04user\x00\x02pw")
    assert connect("cid", 30, None, None)[9] == 0x02  # clean session only
    assert subscribe(1, ["a/+", "b"], 1) == b"\x82\x0c\x00\x01\x00\x03a/+\x01\x00\x01b\x01"
    assert puback(258) == b"\x40\x02\x01\x02"


def test_decoder_takes_many_packets_and_waits_for_split_ones() -> None:
    big = b"x" * 20_000  # a three-byte remaining length
    stream = (b"\x20\x02\x00\x00" + publish_packet("k/d/attrs", b"c|1")
              + publish_packet("k/d/attrs", big, qos=1, packet_id=7) + b"\xd0\x00")
    whole = Decoder().feed(stream)
    assert whole == [Control(2, b"\x00\x00"), Publish("k/d/attrs", b"c|1", 0, None),
                     Publish("k/d/attrs", big, 1, 7), Control(13, b"")]
    decoder = Decoder()
    one_by_one = [p for i in range(len(stream)) for p in decoder.feed(stream[i:i + 1])]
    assert one_by_one == whole
    decoder = Decoder()
    assert decoder.feed(stream[:5]) == [Control(2, b"\x00\x00")]
    assert decoder.feed(b"") == []
    assert len(decoder.feed(stream[5:])) == 3


def test_decoder_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ProtocolError):
        Decoder().feed(b"\x30\xff\xff\xff\xff\x01")  # five length bytes
    with pytest.raises(ProtocolError):
        Decoder().feed(bytes([0x30]) + _remaining_length(MAX_PACKET + 1))
    with pytest.raises(ProtocolError):
        Decoder().feed(publish_packet("t", b"x", qos=2, packet_id=1))
    with pytest.raises(ProtocolError):
        Decoder().feed(b"\x30\x03\x00\x09a")  # topic longer than the packet
    with pytest.raises(ProtocolError):
        Decoder().feed(b"\x30\x04\x00\x02\xff\xfe")  # topic not UTF-8


def test_connack_and_suback() -> None:
    assert connack_code(Control(2, b"\x00\x05")) == 5
    with pytest.raises(ProtocolError):
        connack_code(Control(9, b"\x00\x01\x01"))
    assert suback_codes(Control(9, b"\x00\x01\x01\x80"), 1) == b"\x01\x80"
    with pytest.raises(ProtocolError):
        suback_codes(Control(9, b"\x00\x02\x01"), 1)
    assert "bad user name or password (code 4)" in str(BrokerRefused(4))
