"""What the model needs from a JSON-LD @context: term expansion and IRI compaction."""

from __future__ import annotations

from typing import Protocol


class TermMapper(Protocol):
    """A compiled @context (ETSI GS CIM 009 §5.5.7): term ↔ IRI in O(1)."""

    def expand_term(self, term: str) -> str: ...

    def compact_iri(self, iri: str) -> str: ...

    def expand_vocab_value(self, value: str) -> str: ...

    def compact_vocab_value(self, value: str) -> str: ...
