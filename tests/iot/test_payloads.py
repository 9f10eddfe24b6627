"""JSON and UltraLight 2.0 payloads as devices send them, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityos.iot.payloads import (
    MAX_MEASUREMENTS,
    MAX_PAYLOAD_BYTES,
    MalformedPayload,
    Reading,
    decode,
)

T = datetime(2026, 11, 26, 0, 35, 30, tzinfo=UTC)


def test_ultralight_pairs_groups_and_timestamps() -> None:
    assert decode(b"c|12|t|21.5") == [Reading("c", "12"), Reading("t", "21.5")]
    assert decode(b"2026-11-26T00:35:30Z|c|1#c|2") == [Reading("c", "1", T), Reading("c", "2")]
    assert decode(b"2026-11-26T09:35:30+09:00|l|100", "ul") == [Reading("l", "100", T)]


def test_json_object_list_and_time_instant() -> None:
    assert decode(b'{"c": 12, "ok": true, "s": "open"}') == [
        Reading("c", 12), Reading("ok", True), Reading("s", "open")]
    assert decode(b'[{"c": 1, "TimeInstant": "2026-11-26T00:35:30Z"}, {"c": 2}]') == [
        Reading("c", 1, T), Reading("c", 2)]


@pytest.mark.parametrize("payload", [
    b"", b"   ", b"c|1|d", b"not-a-time|c|1", b"|1", b"\xff\xfe|1", b"{", b"[1, 2]",
    b'{"c": {"nested": 1}}', b'{"c": [1]}', b'{"c": null}', b'{"TimeInstant": 5, "c": 1}',
    b'{"TimeInstant": "2026-11-26T00:35:30", "c": 1}', b'{"a/b": 1}', b'{}', b"[]",
    b"c|" + b"x" * 2000,
])
def test_malformed_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(MalformedPayload):
        decode(payload)


def test_limits_are_checked() -> None:
    with pytest.raises(MalformedPayload, match="larger"):
        decode(b"c|1" + b" " * MAX_PAYLOAD_BYTES)
    with pytest.raises(MalformedPayload, match="more than"):
        decode("|".join(["c|1"] * (MAX_MEASUREMENTS + 1)).encode())
    with pytest.raises(MalformedPayload):
        decode(b"[" * 5000 + b"]" * 5000)
