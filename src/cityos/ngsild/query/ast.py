"""Abstract syntax trees of the NGSI-LD query languages (ETSI GS CIM 009 V1.8.1).

* q-language, clause 4.9: `And` / `Or` over `Comparison`, `Existence` and (V1.9)
  `Absence` terms;
* scopeQ, clause 4.19: `ScopeAnd` / `ScopeOr` over `ScopePattern`;
* entity type selection, clause 4.17: `TypeAnd` / `TypeOr` over `TypeName`;
* attribute projection lists (`attrs`, `pick`, `omit`), clause 4.21: `AttrSelector`.

All names stored in the trees are expanded IRIs (the parsers apply JSON-LD term expansion),
so the trees are independent of the request's @context and can be kept with a subscription.
Nodes are frozen and hashable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias


class Op(StrEnum):
    """Comparison operators of clause 4.9."""

    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    MATCH = "~="
    NOT_MATCH = "!~="


# Operators whose result is "the target exists and the positive counterpart is false".
NEGATED: dict[Op, Op] = {Op.NE: Op.EQ, Op.NOT_MATCH: Op.MATCH}
ORDERING = frozenset({Op.GT, Op.GE, Op.LT, Op.LE})

# Instance members a path may end with (clause 4.9: "attr.observedAt" etc.); not expanded.
MEMBER_NAMES = frozenset({"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId",
                          "objectType"})
# The member holding the compared value, per attribute kind (clause 4.9 "target value").
VALUE_MEMBERS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")


@dataclass(frozen=True)
class DateTimeValue:
    """An unquoted DateTime literal, held in the canonical UTC form
    `YYYY-MM-DDTHH:MM:SS.ffffffZ` so that it orders correctly against stored timestamps."""

    canonical: str


Scalar: TypeAlias = bool | int | float | str | DateTimeValue


@dataclass(frozen=True)
class ValueList:
    """`a==1,2,3`: the comparison holds if the target equals any of the values."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class ValueRange:
    """`a==1..10`: inclusive range; both bounds are of the same kind."""

    low: Scalar
    high: Scalar


QueryValue: TypeAlias = Scalar | ValueList | ValueRange


@dataclass(frozen=True)
class AttrPath:
    """Where a query term looks.

    `attr` is the expanded attribute IRI; `sub_attrs` the expanded sub-attribute IRIs
    (`a.b.c`); `member` an instance member such as `observedAt` (`a.observedAt`); `keys` the
    key path into a compound JSON value (`a[k1.k2]`). `member` and `keys` never both occur.
    """

    attr: str
    sub_attrs: tuple[str, ...] = ()
    member: str | None = None
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    path: AttrPath
    op: Op
    value: QueryValue


@dataclass(frozen=True)
class Existence:
    """A bare attribute path: holds if the path resolves on at least one instance."""

    path: AttrPath


@dataclass(frozen=True)
class Absence:
    """V1.9 clause 4.9 negated existence `!path`: holds if the path resolves on no
    instance (the attribute, or the sub-attribute, member or key, is not there)."""

    path: AttrPath


@dataclass(frozen=True)
class And:
    terms: tuple[QNode, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[QNode, ...]


@dataclass(frozen=True)
class Linked:
    """V1.9 clause 4.9 Linked Entity query `rel{term}` (`rel{Type:term}` with a type hint):
    holds if an entity targeted by Relationship `rel` (and, with a hint, of type
    `type_hint`) satisfies `term`. Only evaluated when Linked Entity retrieval (`join`)
    is requested, `linked_depth` levels deep at most `joinLevel`."""

    relationship: str
    type_hint: str | None
    term: QNode


QNode: TypeAlias = Comparison | Existence | Absence | And | Or | Linked


def linked_depth(node: QNode) -> int:
    """How many Relationship hops the q expression follows."""
    if isinstance(node, And | Or):
        return max(linked_depth(t) for t in node.terms)
    if isinstance(node, Linked):
        return 1 + linked_depth(node.term)
    return 0


def q_attributes(node: QNode) -> set[str]:
    """Attribute IRIs the q expression tests on the queried entities themselves."""
    if isinstance(node, And | Or):
        return set().union(*(q_attributes(t) for t in node.terms))
    if isinstance(node, Linked):
        return {node.relationship}
    return {node.path.attr}


@dataclass(frozen=True)
class ScopePattern:
    """One scope query term (clause 4.19). `levels` are the scope levels after the leading
    `/`; a level `+` matches exactly one arbitrary level. `descendants` is the trailing `/#`:
    the scope itself and every scope below it. `/#` alone is `levels=(), descendants=True`."""

    levels: tuple[str, ...]
    descendants: bool = False


@dataclass(frozen=True)
class ScopeAnd:
    terms: tuple[ScopeNode, ...]


@dataclass(frozen=True)
class ScopeOr:
    terms: tuple[ScopeNode, ...]


ScopeNode: TypeAlias = ScopePattern | ScopeAnd | ScopeOr


@dataclass(frozen=True)
class TypeName:
    iri: str


@dataclass(frozen=True)
class TypeAnd:
    terms: tuple[TypeNode, ...]


@dataclass(frozen=True)
class TypeOr:
    terms: tuple[TypeNode, ...]


TypeNode: TypeAlias = TypeName | TypeAnd | TypeOr


@dataclass(frozen=True)
class AttrSelector:
    """One entry of an `attrs` / `pick` / `omit` list. `name` is an expanded attribute IRI,
    or one of the entity members `id`, `type`, `scope` (kept as they are). `nested` is the
    V1.9 nested projection `a{b,c}` (sub-attribute selection); empty when not used."""

    name: str
    nested: tuple[AttrSelector, ...] = ()
