"""The second factor: TOTP (RFC 6238, 30-second steps, 6 digits) with enrolment by QR
code, and single-use recovery codes.

A code is accepted in the current step or one step either side (clock drift), and each
step's code is accepted once per operator: a code seen by someone looking over a
shoulder cannot be replayed in the same step."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
import segno

from cityos.security.clock import Clock
from cityos.storage.security import SecurityRecords

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
ISSUER_NAME = "Kaga City OS"
USED_STEP = "totp-used"
RECOVERY = "recovery-code"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER_NAME)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no raster images, no external service)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#000",
                                                     light="#fff")
    return svg


def _recovery_code() -> str:
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def normalise_recovery_code(code: str) -> str:
    compact = "".join(ch for ch in code.lower() if ch.isalnum())
    return f"{compact[:4]}-{compact[4:8]}-{compact[8:]}"


def recovery_code_hash(username: str, code: str) -> str:
    # Recovery codes are random (about 59 bits), so a fast keyed hash suffices.
    return hashlib.sha256(f"{username}\x00{normalise_recovery_code(code)}".encode()).hexdigest()


def looks_like_totp(code: str) -> bool:
    return len(code) == 6 and code.isdigit()


class SecondFactor:
    """TOTP verification and recovery codes, kept in the security records."""

    def __init__(self, records: SecurityRecords, clock: Clock) -> None:
        self._records = records
        self._clock = clock

    async def verify_totp(self, username: str, secret: str, code: str) -> bool:
        """True if `code` is the code of the current step or a neighbouring one and was
        not used before in that step by this operator."""
        code = code.strip().replace(" ", "")
        if not looks_like_totp(code):
            return False
        totp = pyotp.TOTP(secret)
        now = self._clock.now()
        current = int(now // STEP_SECONDS)
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
                expires = (step + DRIFT_STEPS + 2) * STEP_SECONDS
                return await self._records.add_record(
                    USED_STEP, f"{username}:{step}", {"username": username, "step": step},
                    expires_at=expires)
        return False

    async def new_recovery_codes(self, username: str) -> list[str]:
        """Replace the operator's recovery codes with fresh ones; the codes are returned
        once and only their hashes are kept."""
        await self.drop_recovery_codes(username)
        codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        for code in codes:
            digest = recovery_code_hash(username, code)
            await self._records.put_record(RECOVERY, digest,
                                           {"username": username, "hash": digest})
        return codes

    async def use_recovery_code(self, username: str, code: str) -> bool:
        """True once per code: a used code is gone."""
        taken = await self._records.take_record(RECOVERY, recovery_code_hash(username, code))
        return taken is not None and taken.get("username") == username

    async def remaining_recovery_codes(self, username: str) -> int:
        return sum(1 for doc in await self._records.list_records(RECOVERY)
                   if doc.get("username") == username)

    async def drop_recovery_codes(self, username: str) -> None:
        for doc in await self._records.list_records(RECOVERY):
            if doc.get("username") == username and "hash" in doc:
                await self._records.delete_record(RECOVERY, str(doc["hash"]))
