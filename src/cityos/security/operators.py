"""Operators (運用者): city staff who run the platform. Each has a username, an argon2id
password hash, roles, and a TOTP secret (sealed with the SecretBox) once enrolled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cityos.ngsild.types import JsonObject
from cityos.security import passwords
from cityos.security.clock import Clock
from cityos.security.secret_box import SecretBox
from cityos.storage.security import SecurityRecords

OPERATOR = "operator"
USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")


class OperatorError(ValueError):
    """A request about operators that cannot be done (bad name, duplicate, unknown)."""


@dataclass
class Operator:
    username: str
    password_hash: str
    roles: list[str] = field(default_factory=list)
    totp_sealed: str | None = None
    disabled: bool = False
    created_at: float = 0.0
    # Set for passwords someone else chose (one-time passwords): the operator picks a
    # new one right after the second factor, before the session gets its roles.
    must_change_password: bool = False

    @property
    def enrolled(self) -> bool:
        return self.totp_sealed is not None

    def doc(self) -> JsonObject:
        return {"username": self.username, "password_hash": self.password_hash,
                "roles": self.roles, "totp_sealed": self.totp_sealed,
                "disabled": self.disabled, "created_at": self.created_at,
                "must_change_password": self.must_change_password}

    def public(self) -> JsonObject:
        """What the admin API shows: never a hash or a secret."""
        return {"username": self.username, "roles": self.roles, "enrolled": self.enrolled,
                "disabled": self.disabled, "createdAt": self.created_at,
                "mustChangePassword": self.must_change_password}

    @classmethod
    def from_doc(cls, doc: JsonObject) -> Operator:
        return cls(username=str(doc["username"]), password_hash=str(doc["password_hash"]),
                   roles=[str(r) for r in doc.get("roles") or []],
                   totp_sealed=doc.get("totp_sealed"), disabled=bool(doc.get("disabled")),
                   created_at=float(doc.get("created_at") or 0.0),
                   must_change_password=bool(doc.get("must_change_password")))


def _totp_purpose(username: str) -> str:
    return f"totp:{username}"


class OperatorDirectory:
    def __init__(self, records: SecurityRecords, box: SecretBox, clock: Clock) -> None:
        self._records = records
        self._box = box
        self._clock = clock

    async def get(self, username: str) -> Operator | None:
        doc = await self._records.get_record(OPERATOR, username)
        return None if doc is None else Operator.from_doc(doc)

    async def all(self) -> list[Operator]:
        return [Operator.from_doc(doc) for doc in await self._records.list_records(OPERATOR)]

    async def create(self, username: str, password: str, roles: list[str], *,
                     one_time: bool = False) -> Operator:
        """A new operator; `one_time`: the password was chosen for them and must be
        replaced at the first login."""
        if not USERNAME.fullmatch(username):
            raise OperatorError("a username is 2–64 characters: a lower-case letter, then "
                                "lower-case letters, digits, '.', '_' or '-'")
        operator = Operator(username=username, password_hash=passwords.hash_password(password),
                            roles=sorted(set(roles)), created_at=self._clock.now(),
                            must_change_password=one_time)
        if not await self._records.add_record(OPERATOR, username, operator.doc()):
            raise OperatorError(f"operator {username!r} exists already")
        return operator

    async def save(self, operator: Operator) -> None:
        await self._records.put_record(OPERATOR, operator.username, operator.doc())

    async def require(self, username: str) -> Operator:
        operator = await self.get(username)
        if operator is None:
            raise OperatorError(f"no operator {username!r}")
        return operator

    async def set_disabled(self, username: str, disabled: bool) -> Operator:
        operator = await self.require(username)
        operator.disabled = disabled
        await self.save(operator)
        return operator

    async def reset_totp(self, username: str) -> Operator:
        """Forget the TOTP secret: the operator enrols again at the next login."""
        operator = await self.require(username)
        operator.totp_sealed = None
        await self.save(operator)
        return operator

    async def set_password(self, username: str, password: str) -> Operator:
        operator = await self.require(username)
        operator.password_hash = passwords.hash_password(password)
        operator.must_change_password = False
        await self.save(operator)
        return operator

    def totp_secret(self, operator: Operator) -> str | None:
        if operator.totp_sealed is None:
            return None
        return self._box.open(operator.totp_sealed, _totp_purpose(operator.username))

    async def enrol_totp(self, operator: Operator, secret: str) -> None:
        operator.totp_sealed = self._box.seal(secret, _totp_purpose(operator.username))
        await self.save(operator)
