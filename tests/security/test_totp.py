"""TOTP verification (window, no reuse within a step) and recovery codes, on the real
SQLite security records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest

from cityos.security.clock import Clock
from cityos.security.totp import (
    SecondFactor,
    new_secret,
    provisioning_uri,
    qr_svg,
    recovery_code_hash,
)
from cityos.storage.sqlite.security import SqliteSecurityRecords
from cityos.storage.sqlite.store import SqliteStore

NOW = 1_800_000_000.0  # a fixed instant, in the middle of a 30 s step


@pytest.fixture
async def factor(tmp_path: Path) -> AsyncIterator[tuple[SecondFactor, Clock]]:
    store = SqliteStore(str(tmp_path / "totp.db"))
    records = SqliteSecurityRecords(store)
    await store.open()
    clock = Clock()
    clock.offset = NOW + 10 - clock.now()
    try:
        yield SecondFactor(records, clock), clock
    finally:
        await store.close()


def code_at(secret: str, when: float) -> str:
    return pyotp.TOTP(secret).at(when)


async def test_current_and_neighbouring_steps_are_accepted(
        factor: tuple[SecondFactor, Clock]) -> None:
    second, clock = factor
    secret = new_secret()
    now = clock.now()
    assert await second.verify_totp("alice", secret, code_at(secret, now))
    assert await second.verify_totp("alice", secret, code_at(secret, now - 30))
    assert await second.verify_totp("alice", secret, code_at(secret, now + 30))
    assert not await second.verify_totp("alice", secret, code_at(secret, now - 90))
    assert not await second.verify_totp("alice", secret, code_at(secret, now + 90))


async def test_a_code_is_accepted_once_per_step(factor: tuple[SecondFactor, Clock]) -> None:
    second, clock = factor
    secret = new_secret()
    code = code_at(secret, clock.now())
    assert await second.verify_totp("alice", secret, code)
    assert not await second.verify_totp("alice", secret, code)
    # Another operator with the same code in the same step is not affected.
    assert await second.verify_totp("bob", secret, code)


async def test_malformed_codes_are_refused(factor: tuple[SecondFactor, Clock]) -> None:
    second, _ = factor
    secret = new_secret()
    for bad in ("", "12345", "1234567", "abcdef", "12 34"):
        assert not await second.verify_totp("alice", secret, bad)


async def test_recovery_codes_are_single_use_and_per_operator(
        factor: tuple[SecondFactor, Clock]) -> None:
    second, _ = factor
    codes = await second.new_recovery_codes("alice")
    assert len(codes) == 10
    assert not await second.use_recovery_code("bob", codes[0])
    assert await second.use_recovery_code("alice", codes[0].upper())
    assert not await second.use_recovery_code("alice", codes[0])
    assert await second.remaining_recovery_codes("alice") == 9
    fresh = await second.new_recovery_codes("alice")  # replaces the old ones
    assert not await second.use_recovery_code("alice", codes[1])
    assert await second.use_recovery_code("alice", fresh[1])


def test_recovery_code_hash_ignores_case_and_separators() -> None:
    assert recovery_code_hash("a", "abcd-efgh-jkmn") == recovery_code_hash("a", "ABCD EFGH JKMN")
    assert recovery_code_hash("a", "abcd-efgh-jkmn") != recovery_code_hash("b", "abcd-efgh-jkmn")


def test_enrolment_uri_and_qr_code() -> None:
    secret = new_secret()
    uri = provisioning_uri(secret, "alice")
    assert uri.startswith("otpauth://totp/Kaga%20City%20OS:alice?secret=" + secret)
    svg = qr_svg(uri)
    assert svg.startswith("<svg") and "<path" in svg and "<script" not in svg
