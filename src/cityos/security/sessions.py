"""Operator login sessions: a random token in an HttpOnly, SameSite=Strict cookie; the
database keeps only its SHA-256. A session is first `password` (password checked, second
factor pending) and becomes `complete` after TOTP or a recovery code; it ends after
`idle` seconds without requests or `absolute` seconds after login, whichever is first.

Only a complete session carries the operator's roles and mfa=True: a password alone gives
a principal with no roles at all."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from cityos.ngsild.types import JsonObject
from cityos.security.authentication import Scope, header
from cityos.security.clock import Clock
from cityos.security.principal import Principal
from cityos.storage.security import SecurityRecords

SESSION = "session"
COOKIE = "cityos_session"
TOUCH_EVERY = 30.0  # seconds: last-seen is written at most this often
# password: second factor pending; change: both factors done, a one-time password must
# be replaced first; complete: signed in.
Stage = Literal["password", "change", "complete"]


@dataclass(frozen=True)
class SessionPolicy:
    idle: float
    absolute: float


@dataclass
class Session:
    key: str
    username: str
    stage: Stage
    created_at: float
    last_seen: float

    def doc(self) -> JsonObject:
        return {"key": self.key, "username": self.username, "stage": self.stage,
                "created_at": self.created_at, "last_seen": self.last_seen}


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_value(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if raw is None:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class Sessions:
    def __init__(self, records: SecurityRecords, policy: SessionPolicy, clock: Clock) -> None:
        self._records = records
        self.policy = policy
        self._clock = clock

    async def start(self, username: str, stage: Stage) -> str:
        """A new session; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        session = Session(_key(token), username, stage, now, now)
        await self._records.put_record(SESSION, session.key, session.doc(),
                                       expires_at=now + self.policy.absolute)
        return token

    async def find(self, token: str) -> Session | None:
        """The live session of a token, or None (an expired one is deleted)."""
        key = _key(token)
        doc = await self._records.get_record(SESSION, key)
        if doc is None:
            return None
        session = Session(key, str(doc["username"]), doc["stage"], float(doc["created_at"]),
                          float(doc["last_seen"]))
        now = self._clock.now()
        if now - session.last_seen > self.policy.idle or \
                now - session.created_at > self.policy.absolute:
            await self._records.delete_record(SESSION, key)
            return None
        if now - session.last_seen > TOUCH_EVERY:
            session.last_seen = now
            await self._records.put_record(SESSION, key, session.doc(),
                                           expires_at=session.created_at + self.policy.absolute)
        return session

    async def advance(self, token: str, stage: Stage = "complete") -> str:
        """The session moves to `stage` (the second factor succeeded, or the one-time
        password was replaced): it ends and a new one starts under a new token (no
        session fixation across a privilege change), keeping its login time."""
        session = await self.find(token)
        if session is None:
            raise LookupError("no live session")
        await self._records.delete_record(SESSION, session.key)
        new_token = secrets.token_urlsafe(32)
        moved = Session(_key(new_token), session.username, stage, session.created_at,
                        self._clock.now())
        await self._records.put_record(SESSION, moved.key, moved.doc(),
                                       expires_at=moved.created_at + self.policy.absolute)
        return new_token

    async def end(self, token: str) -> None:
        await self._records.delete_record(SESSION, _key(token))

    async def end_all(self, username: str) -> None:
        """End every session of an operator (disabled, TOTP reset)."""
        for doc in await self._records.list_records(SESSION):
            if doc.get("username") == username and "key" in doc:
                await self._records.delete_record(SESSION, str(doc["key"]))


def operator_principal(username: str, roles: list[str], complete: bool) -> Principal:
    return Principal(subject=f"operator:{username}", kind="operator",
                     roles=frozenset(roles) if complete else frozenset(), mfa=complete,
                     display_name=username)
