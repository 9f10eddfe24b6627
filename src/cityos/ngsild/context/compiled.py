"""Compiled JSON-LD @contexts: O(1) term <-> IRI lookups (ETSI GS CIM 009 §4.4, §5.5.7).

NGSI-LD terms (Entity types, Attribute names, VocabProperty values) are expanded to IRIs on
the way in and compacted back on the way out. Rather than running a JSON-LD processor per
request, each @context is compiled once into dictionaries; expansion and compaction are then
dictionary lookups, with small bounded caches for the compact-IRI and default-vocabulary cases.

Precedence (§4.4, §5.5.5, §5.5.7): the Core @context is implicitly present and is treated as if
it were in the last position of the @context array, so it has absolute precedence: user
@contexts cannot change the meaning of Core terms, and the Core "@vocab" (the default context
``https://uri.etsi.org/ngsi-ld/default-context/``) is the one in force for unknown terms. The
Core @context is also present while user @contexts are processed, so their term definitions
may use its prefixes ("ngsi-ld:", "geojson:") and terms.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from cityos.ngsild.context.core import (
    CORE_CONTEXT_URL,
    DEFAULT_CONTEXT_VOCAB,
    core_context_value,
    is_core_context_url,
)
from cityos.ngsild.context.processing import MAX_DEPTH, MAX_TERMS, ContextProcessor
from cityos.ngsild.context.terms import KEYWORDS, TermDefinition

__all__ = ["CORE_CONTEXT_URL", "CompiledContext", "compile_context", "core_context"]

_CACHE_LIMIT = 8192


class CompiledContext:
    """An active context reduced to term <-> IRI maps (see the module docstring).

    Build it with :func:`compile_context` (or :func:`core_context` for the Core @context
    alone). Instances are immutable apart from their internal lookup caches and are safe to
    share between requests.
    """

    __slots__ = ("_compact_cache", "_definitions", "_expand_cache", "_iri_of", "_prefix_iri",
                 "_term_of", "_vocab", "direction", "language", "source")

    def __init__(self, definitions: Mapping[str, TermDefinition], *, vocab: str | None,
                 language: str | None = None, direction: str | None = None,
                 source: Any = None) -> None:
        self._definitions: dict[str, TermDefinition] = dict(definitions)
        self._vocab = vocab or DEFAULT_CONTEXT_VOCAB
        self.language = language
        self.direction = direction
        #: The @context value this was compiled from (None: the Core @context alone).
        self.source = source
        forward = {t: d.iri for t, d in self._definitions.items() if not d.reverse}
        self._iri_of: dict[str, str] = forward
        reverse: dict[str, str] = {}
        for term in sorted(forward, key=lambda t: (len(t), t)):
            reverse.setdefault(forward[term], term)
        self._term_of = reverse
        self._prefix_iri: dict[str, str] = {
            t: d.iri for t, d in self._definitions.items()
            if d.prefix and not d.reverse and d.iri not in KEYWORDS}
        self._expand_cache: dict[str, str] = {}
        self._compact_cache: dict[str, str] = {}

    # -- introspection -------------------------------------------------------------------

    @property
    def vocab(self) -> str:
        """The vocabulary mapping unknown terms expand below (the NGSI-LD default context)."""
        return self._vocab

    @property
    def terms(self) -> Mapping[str, str]:
        """Read-only view of term -> IRI (or keyword, for aliases such as "id")."""
        return MappingProxyType(self._iri_of)

    def definition(self, term: str) -> TermDefinition | None:
        """The full compiled definition of `term`, if the @context defines it."""
        return self._definitions.get(term)

    def coercion(self, term: str) -> str | None:
        """The type coercion of `term`: "@id", "@vocab", "@json", a datatype IRI, or None."""
        definition = self._definitions.get(term)
        return None if definition is None else definition.type_mapping

    def container(self, term: str) -> tuple[str, ...]:
        """The "@container" keywords declared for `term` (empty when none)."""
        definition = self._definitions.get(term)
        return () if definition is None else definition.container

    def __contains__(self, term: object) -> bool:
        return term in self._definitions

    def __iter__(self) -> Iterator[str]:
        return iter(self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)

    def __repr__(self) -> str:
        return f"CompiledContext({len(self._definitions)} terms, vocab={self._vocab!r})"

    # -- expansion -----------------------------------------------------------------------

    def expand_term(self, term: str) -> str:
        """Expand an Entity type or Attribute name to its IRI (§5.5.7).

        Defined terms map to their IRI; compact IRIs ("ex:speed") expand through their
        prefix; absolute IRIs and keywords pass through; any other term expands below the
        default context ``https://uri.etsi.org/ngsi-ld/default-context/``.
        """
        iri = self._iri_of.get(term)
        if iri is not None:
            return iri
        iri = self._expand_cache.get(term)
        if iri is None:
            iri = self._expand_slow(term)
            self._remember(self._expand_cache, term, iri)
        return iri

    def _expand_slow(self, term: str) -> str:
        if term[:1] == "@" or term == "":
            return term
        colon = term.find(":")
        if colon > 0:
            prefix, suffix = term[:colon], term[colon + 1:]
            if prefix == "_" or suffix.startswith("//"):
                return term
            base = self._prefix_iri.get(prefix)
            return term if base is None else base + suffix
        return self._vocab + term

    def expand_vocab_value(self, value: str) -> str:
        """Expand the value of a VocabProperty, as for "@type": "@vocab" (§4.5.21, §5.5.7).

        Same rules as :meth:`expand_term`, except that a term aliasing a keyword is taken as a
        plain word, so a value never expands to a JSON-LD keyword.
        """
        iri = self.expand_term(value)
        return self._vocab + value if iri in KEYWORDS and value[:1] != "@" else iri

    # -- compaction ----------------------------------------------------------------------

    def compact_iri(self, iri: str) -> str:
        """Compact an IRI to the shortest term that round-trips through :meth:`expand_term`.

        Order (JSON-LD 1.1 API §6.2 "IRI Compaction"): an exact term match (shortest, then
        lexicographically least), then the part after the default vocabulary when that part
        is not itself a term, then the shortest compact IRI "prefix:suffix", else the IRI.
        """
        term = self._term_of.get(iri)
        if term is not None:
            return term
        term = self._compact_cache.get(iri)
        if term is None:
            term = self._compact_slow(iri)
            self._remember(self._compact_cache, iri, term)
        return term

    def _compact_slow(self, iri: str) -> str:
        if iri in KEYWORDS:
            return iri
        vocab = self._vocab
        if iri.startswith(vocab) and len(iri) > len(vocab):
            suffix = iri[len(vocab):]
            if suffix not in self._iri_of and ":" not in suffix and suffix[:1] != "@":
                return suffix
        best: str | None = None
        for prefix, base in self._prefix_iri.items():
            if len(iri) <= len(base) or not iri.startswith(base):
                continue
            suffix = iri[len(base):]
            if suffix.startswith("//"):
                continue
            candidate = f"{prefix}:{suffix}"
            if candidate in self._iri_of and self._iri_of[candidate] != iri:
                continue
            if best is None or (len(candidate), candidate) < (len(best), best):
                best = candidate
        return iri if best is None else best

    def compact_vocab_value(self, iri: str) -> str:
        """Compact a VocabProperty value IRI; the inverse of :meth:`expand_vocab_value`."""
        term = self.compact_iri(iri)
        if term in self._iri_of and self._iri_of[term] in KEYWORDS:
            return iri
        return term

    @staticmethod
    def _remember(cache_map: dict[str, str], key: str, value: str) -> None:
        if len(cache_map) >= _CACHE_LIMIT:
            cache_map.clear()
        cache_map[key] = value


class _WithCoreDocuments(Mapping[str, Any]):
    """`documents` plus every Core @context URL, answered from the shipped document."""

    def __init__(self, documents: Mapping[str, Any]) -> None:
        self._documents = documents

    def __getitem__(self, url: str) -> Any:
        if is_core_context_url(url):
            return {"@context": core_context_value()}
        return self._documents[url]

    def __contains__(self, url: object) -> bool:
        return url in self._documents or (isinstance(url, str) and is_core_context_url(url))

    def __iter__(self) -> Iterator[str]:
        return iter(self._documents)

    def __len__(self) -> int:
        return len(self._documents)


@cache
def _core_processor() -> ContextProcessor:
    processor = ContextProcessor({}, allow_scoped_contexts=True)
    processor.apply(core_context_value())
    return processor


@cache
def core_context() -> CompiledContext:
    """The compiled NGSI-LD Core @context (annex B), built once per process."""
    core = _core_processor()
    return CompiledContext(core.terms, vocab=core.vocab)


def compile_context(context: Any, *, documents: Mapping[str, Any] | None = None,
                    with_core: bool = True, max_depth: int = MAX_DEPTH,
                    max_terms: int = MAX_TERMS) -> CompiledContext:
    """Compile an @context value (§5.5.7) into a :class:`CompiledContext`.

    `context` is what a request carries: None, a URL string, a context object, or an array
    mixing them (arrays may nest). URLs are looked up in `documents` (URL -> the fetched
    document, an object with an "@context" member); this function performs no I/O, so a URL
    missing there raises ``LdContextNotAvailable``. References to any version of the Core
    @context are satisfied by the shipped one. With `with_core` (the NGSI-LD rule) the Core
    @context is implicitly present and applied last.

    Raises ``BadRequestData`` for invalid @contexts (bad term definitions, cycles between
    remote @contexts, nesting deeper than `max_depth`, more than `max_terms` terms).
    """
    if with_core:
        core = _core_processor()
        if context is None or (isinstance(context, str) and is_core_context_url(context)):
            compiled = core_context()
            return compiled if context is None else CompiledContext(
                core.terms, vocab=core.vocab, source=context)
        processor = ContextProcessor(
            documents or {}, initial_terms=core.terms, initial_vocab=core.vocab,
            overridable=frozenset(core.terms), skip_url=is_core_context_url,
            max_depth=max_depth, max_terms=max_terms)
        processor.apply(context)
        definitions = {**processor.terms, **core.terms}
        return CompiledContext(definitions, vocab=core.vocab, language=processor.language,
                               direction=processor.direction, source=context)
    processor = ContextProcessor(_WithCoreDocuments(documents or {}), max_depth=max_depth,
                                 max_terms=max_terms)
    processor.apply(context)
    return CompiledContext(processor.terms, vocab=processor.vocab, language=processor.language,
                           direction=processor.direction, source=context)
