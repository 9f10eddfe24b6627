"""The steps of an operator's login, without HTTP: password, then the second factor
(TOTP, or a recovery code), or first-time TOTP enrolment. Every failure counts towards
the lockout; only a complete login clears it (so knowing the password never resets the
count of wrong TOTP guesses)."""

from __future__ import annotations

from dataclasses import dataclass

from cityos.security import passwords
from cityos.security.identity import Identity
from cityos.security.operators import Operator
from cityos.security.totp import looks_like_totp, new_secret

PENDING_TOTP = "totp-pending"
ENROLMENT_SECONDS = 900.0


@dataclass(frozen=True)
class Outcome:
    """ok, or the reason shown to the person: bad_credentials, bad_code, locked."""

    ok: bool
    reason: str = ""
    locked_seconds: float = 0.0


OK = Outcome(True)


async def _locked(identity: Identity, username: str) -> Outcome | None:
    locked = await identity.lockout.locked_for(username)
    if locked <= 0:
        return None
    identity.counters.inc("cityos_auth_failures_total",
                          "Failed operator logins and token checks, by stage.", stage="locked")
    return Outcome(False, "locked", locked)


async def check_password(identity: Identity, username: str, password: str,
                         client: str) -> Outcome:
    locked = await _locked(identity, username)
    if locked is not None:
        return locked
    operator = await identity.operators.get(username)
    if operator is None or operator.disabled:
        passwords.verify_password(passwords.DUMMY_HASH, password)  # same time either way
        await identity.lockout.failed(username, "password", client)
        return Outcome(False, "bad_credentials")
    if not passwords.verify_password(operator.password_hash, password):
        await identity.lockout.failed(username, "password", client)
        return Outcome(False, "bad_credentials")
    if passwords.needs_rehash(operator.password_hash):
        await identity.operators.set_password(username, password)
    return OK


async def check_second_factor(identity: Identity, operator: Operator, code: str,
                              client: str) -> Outcome:
    """A TOTP code (6 digits) or a recovery code of an enrolled operator."""
    locked = await _locked(identity, operator.username)
    if locked is not None:
        return locked
    code = code.strip()
    if looks_like_totp(code.replace(" ", "")):
        secret = identity.operators.totp_secret(operator)
        ok = secret is not None and await identity.second_factor.verify_totp(
            operator.username, secret, code)
        stage = "totp"
    else:
        ok = await identity.second_factor.use_recovery_code(operator.username, code)
        stage = "recovery"
    if not ok:
        await identity.lockout.failed(operator.username, stage, client)
        return Outcome(False, "bad_code")
    await identity.lockout.succeeded(operator.username)
    return OK


async def pending_secret(identity: Identity, username: str) -> str:
    """The TOTP secret being enrolled (kept sealed for a while between the QR page and
    the confirmation), created if there is none."""
    purpose = f"totp-pending:{username}"
    doc = await identity.records.get_record(PENDING_TOTP, username)
    now = identity.clock.now()
    if doc is not None and float(doc.get("expires_at", 0)) > now:
        return identity.box.open(str(doc["sealed"]), purpose)
    secret = new_secret()
    await identity.records.put_record(
        PENDING_TOTP, username,
        {"sealed": identity.box.seal(secret, purpose), "expires_at": now + ENROLMENT_SECONDS},
        expires_at=now + ENROLMENT_SECONDS)
    return secret


async def confirm_enrolment(identity: Identity, operator: Operator, code: str,
                            client: str) -> tuple[Outcome, list[str]]:
    """The first code from the authenticator app proves the enrolment; on success the
    secret becomes the operator's and fresh recovery codes are returned (shown once)."""
    locked = await _locked(identity, operator.username)
    if locked is not None:
        return locked, []
    secret = await pending_secret(identity, operator.username)
    if not await identity.second_factor.verify_totp(operator.username, secret, code):
        await identity.lockout.failed(operator.username, "totp", client)
        return Outcome(False, "bad_code"), []
    await identity.operators.enrol_totp(operator, secret)
    await identity.records.delete_record(PENDING_TOTP, operator.username)
    await identity.lockout.succeeded(operator.username)
    return OK, await identity.second_factor.new_recovery_codes(operator.username)


async def check_new_password(identity: Identity, operator: Operator, current: str, new: str,
                             again: str, client: str) -> str | None:
    """Why a password change is refused (a text key), or None. The current password is
    asked again, and counts towards the lockout when wrong."""
    if not passwords.verify_password(operator.password_hash, current):
        await identity.lockout.failed(operator.username, "password", client)
        return "bad_current_password"
    if new != again:
        return "password_mismatch"
    if len(new) < passwords.MIN_PASSWORD_LENGTH:
        return "password_too_short"
    if new == current:
        return "password_same"
    return None
