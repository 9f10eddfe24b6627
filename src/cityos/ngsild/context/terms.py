"""Term definitions of a compiled JSON-LD @context (ETSI GS CIM 009 §5.5.7, JSON-LD 1.1 §4.1).

A term definition is the compiled form of one entry of an @context: the IRI the term expands
to plus the JSON-LD annotations NGSI-LD cares about (type coercion, container, protection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: JSON-LD 1.1 keywords (JSON-LD 1.1 §1.7). A term may alias one of them ("id": "@id").
KEYWORDS: frozenset[str] = frozenset({
    "@base", "@container", "@context", "@direction", "@graph", "@id", "@import",
    "@included", "@index", "@json", "@language", "@list", "@nest", "@none", "@prefix",
    "@propagate", "@protected", "@reverse", "@set", "@type", "@value", "@version", "@vocab",
})

#: Keys allowed inside an expanded term definition (JSON-LD 1.1 API §4.2.2, step 11).
TERM_DEFINITION_KEYS: frozenset[str] = frozenset({
    "@id", "@reverse", "@type", "@language", "@direction", "@container", "@context",
    "@prefix", "@propagate", "@protected", "@index", "@nest",
})

#: Keywords allowed as the value of "@type" in a term definition (type coercion).
TYPE_KEYWORDS: frozenset[str] = frozenset({"@id", "@vocab", "@json", "@none"})

#: Values allowed in "@container".
CONTAINER_KEYWORDS: frozenset[str] = frozenset({
    "@list", "@set", "@index", "@language", "@id", "@type", "@graph",
})

#: Characters ending an IRI that make a simple term usable as a prefix (RFC 3986 gen-delims).
GEN_DELIMS: frozenset[str] = frozenset(":/?#[]@")


def looks_like_keyword(value: str) -> bool:
    """True for strings of the form "@" + ALPHA+, reserved by JSON-LD 1.1 for future keywords."""
    return len(value) > 1 and value[0] == "@" and value[1:].isalpha() and value[1:].isascii()


def is_absolute_iri(value: str) -> bool:
    """True when `value` has an RFC 3987 scheme ("https:", "urn:", ...)."""
    colon = value.find(":")
    if colon <= 0:
        return False
    scheme = value[:colon]
    return scheme[0].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)


@dataclass(frozen=True, slots=True)
class TermDefinition:
    """One compiled term (JSON-LD 1.1 API §4.2.2 "Create Term Definition").

    `iri` is the expanded IRI (or the keyword the term aliases). `type_mapping` is the
    expanded type coercion: "@id", "@vocab", "@json", "@none" or a datatype IRI such as
    "https://uri.etsi.org/ngsi-ld/DateTime". `container` lists the "@container" keywords.
    `prefix` tells whether the term may be used as the prefix of a compact IRI.
    `scoped_context` keeps a term-scoped "@context" verbatim; it is recorded, not applied.
    """

    iri: str
    type_mapping: str | None = None
    container: tuple[str, ...] = ()
    protected: bool = False
    prefix: bool = False
    reverse: bool = False
    language: str | None = None
    direction: str | None = None
    index: str | None = None
    nest: str | None = None
    scoped_context: Any = None

    @property
    def is_keyword_alias(self) -> bool:
        return self.iri in KEYWORDS

    def same_meaning(self, other: TermDefinition) -> bool:
        """Equality ignoring the protected flag (JSON-LD 1.1 API §4.2.2 step 27.1)."""
        return (self.iri, self.type_mapping, self.container, self.prefix, self.reverse,
                self.language, self.direction, self.index, self.nest, self.scoped_context) == (
            other.iri, other.type_mapping, other.container, other.prefix, other.reverse,
            other.language, other.direction, other.index, other.nest, other.scoped_context)
