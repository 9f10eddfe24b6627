"""Signing keys of the built-in provider: ES256 (P-256) keys identified by `kid`. One is
active and signs new tokens; after a rotation the previous key stays in the JWKS until
every token it signed has expired, then it is deleted. Private keys are stored sealed
(cityos.security.secret_box)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, KeySet

from cityos.ngsild.types import JsonObject
from cityos.security.clock import Clock
from cityos.security.secret_box import SecretBox
from cityos.storage.security import SecurityRecords

SIGNING_KEY = "signing-key"
ALGORITHM = "ES256"
# Beyond the token lifetime, a retired key stays published this much longer (clock skew).
RETIRE_MARGIN = 60.0
# Verifying a token reuses the published keys read this recently (unknown kids reload).
KEYSET_CACHE_SECONDS = 5.0


@dataclass
class SigningKeyRecord:
    kid: str
    public_jwk: JsonObject
    private_sealed: str
    created_at: float
    retired_at: float | None

    def doc(self) -> JsonObject:
        return {"kid": self.kid, "public_jwk": self.public_jwk,
                "private_sealed": self.private_sealed, "created_at": self.created_at,
                "retired_at": self.retired_at}

    @classmethod
    def from_doc(cls, doc: JsonObject) -> SigningKeyRecord:
        retired = doc.get("retired_at")
        return cls(str(doc["kid"]), dict(doc["public_jwk"]), str(doc["private_sealed"]),
                   float(doc["created_at"]), None if retired is None else float(retired))


def _purpose(kid: str) -> str:
    return f"signing-key:{kid}"


class SigningKeys:
    def __init__(self, records: SecurityRecords, box: SecretBox, clock: Clock,
                 token_lifetime: float) -> None:
        self._records = records
        self._box = box
        self._clock = clock
        self._retention = token_lifetime + RETIRE_MARGIN
        self._private: dict[str, ECKey] = {}
        self._keyset: tuple[float, frozenset[str], KeySet] | None = None

    async def _all(self) -> list[SigningKeyRecord]:
        return [SigningKeyRecord.from_doc(doc)
                for doc in await self._records.list_records(SIGNING_KEY)]

    async def _create(self) -> SigningKeyRecord:
        now = self._clock.now()
        kid = f"{int(now)}-{secrets.token_hex(4)}"
        key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig",
                                                      "alg": ALGORITHM}, private=True)
        record = SigningKeyRecord(kid, dict(key.as_dict(private=False)),
                                  self._box.seal(key.as_pem(private=True).decode(),
                                                 _purpose(kid)), now, None)
        await self._records.put_record(SIGNING_KEY, kid, record.doc())
        self._private[kid] = key
        return record

    async def active(self) -> SigningKeyRecord:
        """The key that signs new tokens (created at first use)."""
        current = [r for r in await self._all() if r.retired_at is None]
        if current:
            return max(current, key=lambda r: r.created_at)
        return await self._create()

    async def rotate(self) -> str:
        """A new active key; the previous ones retire (still published until their tokens
        expire). Returns the new kid."""
        now = self._clock.now()
        for record in await self._all():
            if record.retired_at is None:
                record.retired_at = now
                await self._records.put_record(SIGNING_KEY, record.kid, record.doc())
        self._keyset = None
        return (await self._create()).kid

    async def published(self) -> list[SigningKeyRecord]:
        """Keys whose tokens may still be valid; keys retired longer ago are deleted."""
        now = self._clock.now()
        kept = []
        for record in await self._all():
            if record.retired_at is not None and now - record.retired_at > self._retention:
                await self._records.delete_record(SIGNING_KEY, record.kid)
                self._private.pop(record.kid, None)
            else:
                kept.append(record)
        return kept

    async def jwks(self) -> dict[str, Any]:
        await self.active()  # a provider always publishes the key it will sign with
        return {"keys": [record.public_jwk for record in await self.published()]}

    async def keyset(self, kid: str | None = None) -> KeySet:
        """The published keys as a KeySet, for verifying this provider's tokens."""
        now = self._clock.now()
        cached = self._keyset
        if cached is not None and now - cached[0] < KEYSET_CACHE_SECONDS and \
                (kid is None or kid in cached[1]):
            return cached[2]
        jwks = await self.jwks()
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        self._keyset = (now, frozenset(str(k["kid"]) for k in jwks["keys"]), keys)
        return keys

    async def signing_key(self) -> tuple[str, ECKey]:
        record = await self.active()
        key = self._private.get(record.kid)
        if key is None:
            pem = self._box.open(record.private_sealed, _purpose(record.kid))
            key = ECKey.import_key(pem, parameters={"kid": record.kid})
            self._private[record.kid] = key
        return record.kid, key
