"""Which attributes hold personal data (CITYOS_PERSONAL_ATTRIBUTES).

A rule is `NAME` (the attribute on every entity type) or `TYPE.NAME` (on that type only),
each a term of the core @context or a full IRI; rules are compared on expanded IRIs, so a
client's own @context cannot hide a personal attribute behind another term. Authorization
never lets such an attribute be read without an explicit grant, and storage encrypts it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from cityos.ngsild.context import core_context


def _expand(name: str) -> str:
    return core_context().expand_term(name)


def _split_rule(rule: str) -> tuple[str | None, str]:
    """`TYPE.NAME` → (TYPE, NAME); an IRI or a plain name → (None, NAME). An IRI contains
    dots of its own, so only a rule without a scheme is split."""
    if "://" in rule or ":" in rule.split(".", 1)[0] or "." not in rule:
        return None, rule
    entity_type, name = rule.split(".", 1)
    return entity_type, name


@dataclass(frozen=True)
class PersonalAttributes:
    everywhere: frozenset[str]
    by_type: frozenset[tuple[str, str]]

    @classmethod
    def parse(cls, setting: str) -> PersonalAttributes:
        everywhere: set[str] = set()
        by_type: set[tuple[str, str]] = set()
        for raw in setting.split(","):
            rule = raw.strip()
            if not rule:
                continue
            entity_type, name = _split_rule(rule)
            if entity_type is None:
                everywhere.add(_expand(name))
            else:
                by_type.add((_expand(entity_type), _expand(name)))
        return cls(frozenset(everywhere), frozenset(by_type))

    def __bool__(self) -> bool:
        return bool(self.everywhere or self.by_type)

    @cached_property
    def names(self) -> frozenset[str]:
        """Every attribute that is personal on some entity type (a superset for one
        entity: an entity holding none of them holds no personal data)."""
        return self.everywhere | {name for _, name in self.by_type}

    def is_personal(self, entity_types: Iterable[str], attribute: str) -> bool:
        """Whether `attribute` (an expanded IRI) of an entity with these (expanded) types
        holds personal data."""
        if attribute in self.everywhere:
            return True
        return any((entity_type, attribute) in self.by_type for entity_type in entity_types)
