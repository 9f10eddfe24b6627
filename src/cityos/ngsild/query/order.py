"""Entity ordering (ETSI GS CIM 009 V1.9.1 clause 4.23): the `orderBy`, `collation` and
`orderFrom` parameters.

`orderBy` is a comma-separated list of keys, each `path[;asc|;desc|;dist-asc|;dist-desc]`:

* `id`, `type`, `createdAt`, `modifiedAt` alone name entity members;
* otherwise the path is a q-language attribute path (clause 4.9): `name`, `name.sub`
  (sub-attribute), `name.createdAt` / `name.observedAt` (instance member), `address[city]`
  (a member of a compound value);
* `dist-asc` / `dist-desc` order by the distance between the GeoProperty named by the path
  and the reference geometry `orderFrom` (coordinates) / `geometry` (default `Point`).

Clause 4.23.2 ordering of mixed values: numbers before strings, entities without the key
last (in both directions). Strings compare by code point unless a collation is given.

Collation: a syntactically valid BCP 47 tag (RFC 5646, with RFC 6067 `-u-` extensions) is
accepted and applied as the Unicode root collation approximation of `root_collation_key`
(base letters first, then accents, then case): without ICU, language-specific tailorings
(e.g. Swedish `ä` after `z`) are not applied. An unparseable tag is BadRequestData.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cityos.ngsild.errors import BadRequestData, NgsiLdError
from cityos.ngsild.query.ast import AttrPath
from cityos.ngsild.query.lexer import check_length
from cityos.ngsild.query.parser import attr_path_of

ENTITY_ORDER_MEMBERS = frozenset({"id", "type", "createdAt", "modifiedAt"})
MAX_ORDER_KEYS = 16
DIRECTIONS = {"asc": (False, False), "desc": (True, False),
              "dist-asc": (False, True), "dist-desc": (True, True)}
# RFC 5646 language tag (simplified: language, script, region, variants, extensions,
# private use) or the root tag `und`.
_BCP47 = re.compile(
    r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"
    r"(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?")


@dataclass(frozen=True)
class OrderKey:
    """One orderBy key: `member` for an entity member (`id`, `type`, `createdAt`,
    `modifiedAt`), else `path`; `distance` orders by distance from `Ordering.origin`."""

    member: str | None
    path: AttrPath | None
    descending: bool = False
    distance: bool = False


@dataclass(frozen=True)
class Ordering:
    keys: tuple[OrderKey, ...]
    collation: str | None = None
    origin: Any = None  # a GeoQuery holding the reference geometry of distance keys


def _bad(detail: str) -> BadRequestData:
    return BadRequestData(f"invalid orderBy: {detail}")


def parse_order_by(text: str, expand: Callable[[str], str]) -> tuple[OrderKey, ...]:
    """Parse `orderBy` (clause 4.23.1); names are expanded with `expand`."""
    check_length("orderBy", text)
    keys: list[OrderKey] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise _bad("empty key")
        path_text, _, direction = item.partition(";")
        if direction and direction not in DIRECTIONS:
            raise _bad(f"unknown direction {direction!r}; use asc, desc, dist-asc or "
                       "dist-desc")
        descending, distance = DIRECTIONS[direction or "asc"]
        path_text = path_text.strip()
        if path_text in ENTITY_ORDER_MEMBERS:
            if distance:
                raise _bad(f"{path_text} cannot be ordered by distance")
            keys.append(OrderKey(path_text, None, descending))
            continue
        try:
            path = attr_path_of(path_text, expand, "orderBy")
        except NgsiLdError as exc:
            raise _bad(exc.detail) from None
        if distance and (path.sub_attrs or path.member or path.keys):
            raise _bad("distance ordering needs a GeoProperty name")
        keys.append(OrderKey(None, path, descending, distance))
    if len(keys) > MAX_ORDER_KEYS:
        raise _bad(f"more than {MAX_ORDER_KEYS} keys")
    return tuple(keys)


def check_collation(tag: str) -> str:
    """Validate a collation tag (BCP 47); BadRequestData when it cannot be parsed."""
    if len(tag) > 128 or not _BCP47.fullmatch(tag):
        raise BadRequestData(f"collation {tag[:80]!r} is not a valid BCP 47 language tag")
    return tag


@lru_cache(maxsize=4096)
def root_collation_key(text: str) -> tuple[str, tuple[str, ...], tuple[bool, ...]]:
    """Sort key approximating the Unicode root collation: primary — base letters without
    accents, case-folded; secondary — the accents; tertiary — case (lower before upper)."""
    decomposed = unicodedata.normalize("NFD", text)
    base: list[str] = []
    accents: list[str] = []
    upper: list[bool] = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            if accents:
                accents[-1] += ch
            continue
        base.append(ch.casefold())
        accents.append("")
        upper.append(ch != ch.lower())
    return "".join(base), tuple(accents), tuple(upper)


def root_collation(a: str, b: str) -> int:
    """A SQLite collation callable (negative, zero, positive) for `root_collation_key`."""
    ka, kb = root_collation_key(a), root_collation_key(b)
    return (ka > kb) - (ka < kb) or (a > b) - (a < b)
