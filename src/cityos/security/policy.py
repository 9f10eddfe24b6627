"""Authorization policies: who may do what to which entities and attributes.

A `Grant` gives one audience (a role, one subject, or everyone) an operation (read, write,
subscribe, admin) on entities of one tenant, optionally narrowed to an entity type, an id
pattern and a list of attributes. Everything not granted is denied. An attribute that holds
personal data (cityos.security.personal) is readable only through a grant that names it;
a grant on "all attributes" never includes it.

`Authorizer` applies the grants to one caller in one tenant; it is pure and cheap to build.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast, get_args

from cityos.ngsild.context import core_context
from cityos.ngsild.errors import BadRequestData, Forbidden, NgsiLdError, Unauthenticated
from cityos.security.personal import PersonalAttributes
from cityos.security.principal import Principal

Operation = Literal["read", "write", "subscribe", "admin"]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)
EVERYONE = "*"  # audience: every caller, anonymous ones included
ANY = "*"  # tenant or entity type: any
_AUDIENCE = re.compile(r"\*|role:[A-Za-z0-9_.:-]{1,64}|subject:[^\s]{1,200}")


def expand(term: str) -> str:
    """A type or attribute name of a grant, as the expanded IRI the store holds."""
    return term if term == ANY else core_context().expand_term(term)


@dataclass(frozen=True)
class Grant:
    """audience: `role:NAME`, `subject:SUBJECT` (e.g. subject:apikey:3f2a…) or `*`;
    tenant: a tenant name ("" is the default tenant) or `*`; entity_type: an expanded
    type IRI or `*`; id_pattern: a regular expression the entity id must match in full;
    attributes: expanded attribute IRIs, or None for every attribute that is not
    personal data."""

    audience: str
    operations: frozenset[Operation]
    tenant: str = ANY
    entity_type: str = ANY
    id_pattern: str | None = None
    attributes: frozenset[str] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def __post_init__(self) -> None:
        if not _AUDIENCE.fullmatch(self.audience):
            raise BadRequestData("audience must be `*`, `role:NAME` or `subject:SUBJECT`, "
                                 f"got {self.audience[:80]!r}")
        if not self.operations or not set(self.operations) <= set(OPERATIONS):
            raise BadRequestData(f"operations must be some of {', '.join(OPERATIONS)}")
        if self.id_pattern is not None:
            try:
                re.compile(self.id_pattern)
            except re.error as error:
                raise BadRequestData(f"idPattern is not a regular expression: {error}") \
                    from None

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        return None if self.id_pattern is None else re.compile(self.id_pattern)

    def applies_to(self, principal: Principal) -> bool:
        if self.audience == EVERYONE:
            return True
        kind, _, name = self.audience.partition(":")
        if kind == "role":
            return name in principal.roles
        return name == principal.subject

    def covers(self, entity_id: str, types: Iterable[str]) -> bool:
        if self.entity_type != ANY and self.entity_type not in types:
            return False
        return self._pattern is None or self._pattern.fullmatch(entity_id) is not None

    def to_json(self) -> dict[str, Any]:
        """The stored and displayed form (type and attributes as expanded IRIs)."""
        return {"id": self.id, "audience": self.audience,
                "operations": sorted(self.operations), "tenant": self.tenant,
                "entityType": self.entity_type, "idPattern": self.id_pattern,
                "attributes": None if self.attributes is None else sorted(self.attributes)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Grant:
        """A grant from its JSON form; type and attribute names may be core terms."""
        if not isinstance(doc, Mapping):
            raise BadRequestData("a grant must be a JSON object")
        operations = doc.get("operations")
        if isinstance(operations, str):
            operations = [operations]
        if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
            raise BadRequestData("operations must be a list of read, write, subscribe, admin")
        attributes = doc.get("attributes")
        if attributes is not None and (not isinstance(attributes, list) or not all(
                isinstance(a, str) and a for a in attributes)):
            raise BadRequestData("attributes must be a list of attribute names")
        texts = {name: doc.get(name, default) for name, default in
                 (("audience", None), ("tenant", ANY), ("entityType", ANY))}
        if not all(isinstance(v, str) for v in texts.values()):
            raise BadRequestData("audience, tenant and entityType must be strings")
        pattern = doc.get("idPattern")
        if pattern is not None and not isinstance(pattern, str):
            raise BadRequestData("idPattern must be a string")
        extra = {"id": str(doc["id"])} if doc.get("id") else {}
        return cls(audience=str(texts["audience"]),
                   operations=frozenset(cast(list[Operation], operations)),
                   tenant=str(texts["tenant"]), entity_type=expand(str(texts["entityType"])),
                   id_pattern=pattern,
                   attributes=None if attributes is None
                   else frozenset(expand(a) for a in attributes), **extra)


def public_read_grants(types: str) -> list[Grant]:
    """CITYOS_PUBLIC_TYPES: everyone may read these types (every tenant)."""
    names = [name.strip() for name in types.split(",") if name.strip()]
    return [Grant(EVERYONE, frozenset({"read"}), entity_type=expand(name), id=f"public-{name}")
            for name in names]


class Authorizer:
    """The grants of one caller in one tenant. `unrestricted` (development mode) allows
    everything without looking at grants."""

    def __init__(self, principal: Principal, tenant: str, grants: Sequence[Grant],
                 personal: PersonalAttributes, *, unrestricted: bool = False) -> None:
        self.principal = principal
        self.tenant = tenant
        self.personal = personal
        self.unrestricted = unrestricted
        self.views: dict[int, Any] = {}  # per-caller service views (api.state), memoized
        in_tenant = principal.tenants is None or tenant in principal.tenants
        self._grants: dict[Operation, list[Grant]] = {op: [] for op in OPERATIONS}
        if in_tenant and not unrestricted:
            for grant in grants:
                if grant.tenant in (ANY, tenant) and grant.applies_to(principal):
                    for op in grant.operations:
                        self._grants[op].append(grant)

    # -- decisions ------------------------------------------------------------------------
    def grants(self, op: Operation) -> list[Grant]:
        return self._grants[op]

    def denied(self, op: Operation, what: str = "") -> NgsiLdError:
        """401 for an anonymous caller (it should authenticate), 403 otherwise."""
        detail = f"{op} {what}".strip()
        if self.principal.is_anonymous:
            return Unauthenticated(f"authentication required to {detail}")
        return Forbidden(f"{self.principal.subject} may not {detail}")

    def require_any(self, op: Operation) -> None:
        """The caller must hold at least one grant of this operation in the tenant."""
        if not self.unrestricted and not self._grants[op]:
            raise self.denied(op, f"in tenant {self.tenant!r}" if self.tenant else "")

    def may(self, op: Operation, entity_id: str, types: Iterable[str]) -> bool:
        if self.unrestricted:
            return True
        types = tuple(types)
        return any(g.covers(entity_id, types) for g in self._grants[op])

    def attribute_allowed(self, op: Operation, entity_id: str, types: Sequence[str],
                          attribute: str) -> bool:
        if self.unrestricted:
            return True
        covering = [g for g in self._grants[op] if g.covers(entity_id, types)]
        return _allows(covering, self.personal, types, attribute, op)

    # -- reads ----------------------------------------------------------------------------
    def type_readable(self, type_iri: str) -> bool:
        """Whether some read grant covers entities of this type (type listings)."""
        return self.unrestricted or any(g.entity_type in (ANY, type_iri)
                                        for g in self._grants["read"])

    def attribute_visible(self, type_iri: str, attribute: str,
                          op: Operation = "read") -> bool:
        """Whether the attribute of entities of this type (`*`: of any type) is readable
        through some grant, id patterns aside (listings, query filters)."""
        if self.unrestricted:
            return True
        if type_iri == ANY:
            personal = attribute in self.personal.everywhere or any(
                name == attribute for _, name in self.personal.by_type)
        else:
            personal = self.personal.is_personal((type_iri,), attribute)
        return any(g.entity_type in (ANY, type_iri) and (
            (g.attributes is None and not personal)
            or (g.attributes is not None and attribute in g.attributes))
            for g in self._grants[op])

    def filterable(self, attribute: str, op: Operation = "read") -> bool:
        """May a query filter (q, orderBy) look at this attribute? Only when it is readable
        on every entity type the caller's grants let the query reach: a filter on an
        attribute one may not read would reveal its value one bit at a time."""
        if self.unrestricted:
            return True
        return all(self.attribute_visible(t, attribute, op)
                   for t in {g.entity_type for g in self._grants[op]})

    def readable(self, entity: Mapping[str, Any], op: Operation = "read"
                 ) -> dict[str, Any] | None:
        """The entity as the caller may see it (attributes it may not read removed), or
        None when it may not read the entity at all. An entity shown whole is returned
        as it is (callers never change it)."""
        if self.unrestricted:
            return entity  # type: ignore[return-value]
        types = entity.get("type", ())
        entity_id = entity["id"]
        covering = [g for g in self._grants[op] if g.covers(entity_id, types)]
        if not covering:
            return None
        attrs = entity.get("attrs", {})
        if any(g.attributes is None for g in covering) and (
                not self.personal or self.personal.names.isdisjoint(attrs)):
            return entity  # type: ignore[return-value]
        kept = {name: value for name, value in attrs.items()
                if _allows(covering, self.personal, types, name, op)}
        aggregates = entity.get("aggregates")
        if len(kept) == len(attrs) and aggregates is None:
            return entity  # type: ignore[return-value]
        shown = dict(entity)
        shown["attrs"] = kept
        if aggregates is not None:
            shown["aggregates"] = {name: value for name, value in aggregates.items()
                                   if _allows(covering, self.personal, types, name, op)}
        return shown

    def check_write(self, before: Mapping[str, Any] | None,
                    after: Mapping[str, Any] | None) -> None:
        """A write turning `before` into `after` (either None: create, delete) must be
        allowed on the entity before and after, and for each attribute it changes."""
        if self.unrestricted:
            return
        for state in (before, after):
            if state is not None and not self.may("write", state["id"], state["type"]):
                raise self.denied("write", f"entity {state['id']}")
        old = before["attrs"] if before is not None else {}
        new = after["attrs"] if after is not None else {}
        changed = [name for name in old.keys() | new.keys() if old.get(name) != new.get(name)]
        if not changed:
            return
        subject = after if after is not None else before
        assert subject is not None
        types = [*(before or {}).get("type", ()), *(after or {}).get("type", ())]
        covering = [g for g in self._grants["write"] if g.covers(subject["id"], types)]
        if any(g.attributes is None for g in covering):
            return
        for name in changed:
            if not any(g.attributes is not None and name in g.attributes for g in covering):
                raise self.denied("write", f"attribute {name} of entity {subject['id']}")

def _allows(covering: Sequence[Grant], personal: PersonalAttributes, types: Sequence[str],
            attribute: str, op: Operation) -> bool:
    """Whether one of these grants (all covering the entity) allows the attribute;
    personal data only to `read` through a grant naming it."""
    hidden = op == "read" and bool(personal) and personal.is_personal(types, attribute)
    for grant in covering:
        if grant.attributes is None:
            if not hidden:
                return True
        elif attribute in grant.attributes:
            return True
    return False
