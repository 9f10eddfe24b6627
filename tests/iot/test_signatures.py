"""HMAC-SHA256 signatures: the worked example of docs/iot.md, tampering, replays."""

from __future__ import annotations

import pytest

from cityos.iot.signatures import (
    PayloadReplayed,
    ReplayGuard,
    SignatureInvalid,
    parse_line,
    sign,
    split_signed,
    verify,
)

KEY = b"0123456789abcdef0123456789abcdef"


def test_worked_example_of_the_documentation() -> None:
    line = sign(KEY, "river-daishoji", b"l|123", 1764147600)
    # the same figure as `printf '1764147600.river-daishoji.l|123' | openssl dgst -sha256
    # -hmac 0123456789abcdef0123456789abcdef`
    assert line == ("v1,t=1764147600,sig="
                    "3724c7975f1fb0856a3d984a8c3728dad34f81939a07b25b6c174a5b8bf3952e")
    signature, body = split_signed(line.encode() + b"\nl|123")
    assert body == b"l|123" and signature is not None
    verify(KEY, "river-daishoji", body, signature)


def test_tampered_payload_other_device_or_key_fail() -> None:
    signature = parse_line(sign(KEY, "d1", b"c|1", 100).encode())
    with pytest.raises(SignatureInvalid):
        verify(KEY, "d1", b"c|2", signature)
    with pytest.raises(SignatureInvalid):
        verify(KEY, "d2", b"c|1", signature)
    with pytest.raises(SignatureInvalid):
        verify(b"another key of enough length....", "d1", b"c|1", signature)


@pytest.mark.parametrize("line", [b"v1,t=1,sig=abc", b"v1,t=x,sig=" + b"0" * 64,
                                  b"v1,t=1,sig=" + b"G" * 64, b"v1,t=1"])
def test_unreadable_signature_lines(line: bytes) -> None:
    with pytest.raises(SignatureInvalid):
        split_signed(line + b"\nc|1")


def test_unsigned_payload_passes_through() -> None:
    assert split_signed(b"c|1") == (None, b"c|1")


def test_replay_window_and_repeated_signatures() -> None:
    guard = ReplayGuard(300)
    first = parse_line(sign(KEY, "d1", b"c|1", 1000).encode())
    guard.check(first, now=1100)
    with pytest.raises(PayloadReplayed, match="already"):
        guard.check(first, now=1101)
    with pytest.raises(PayloadReplayed, match="window"):
        guard.check(parse_line(sign(KEY, "d1", b"c|2", 500).encode()), now=1100)
    with pytest.raises(PayloadReplayed, match="window"):
        guard.check(parse_line(sign(KEY, "d1", b"c|3", 2000).encode()), now=1100)


def test_replay_memory_is_bounded() -> None:
    guard = ReplayGuard(300, capacity=10)
    for n in range(100):
        guard.check(parse_line(sign(KEY, "d1", f"c|{n}".encode(), 1000).encode()), now=1000)
    assert len(guard._seen) <= 10
