"""Context processing: @context values into term definitions (ETSI GS CIM 009 §4.4, §5.5.7).

This is the subset of the JSON-LD 1.1 Context Processing Algorithm (JSON-LD 1.1 API §4.1,
§4.2) an NGSI-LD broker needs: term definitions (simple and expanded), compact IRIs,
"@vocab", "@protected", "@version", "@import", arrays (also nested) and "null" resets. It never
performs I/O: remote @context documents are looked up in a mapping of URL to document that
the caller (the broker's context resolver) has fetched beforehand.

User @contexts shall not contain JSON-LD scoped contexts (§5.5.7): a term definition with an
"@context" is rejected with BadRequestData unless `allow_scoped_contexts` is set (for the Core
@context, whose scoped contexts are recorded, not applied). "@base" is accepted but not used
(NGSI-LD terms are never document-relative).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cityos.ngsild.context.core import DEFAULT_CONTEXT_VOCAB
from cityos.ngsild.context.terms import (
    CONTAINER_KEYWORDS,
    GEN_DELIMS,
    KEYWORDS,
    TERM_DEFINITION_KEYS,
    TYPE_KEYWORDS,
    TermDefinition,
    is_absolute_iri,
    looks_like_keyword,
)
from cityos.ngsild.errors import BadRequestData, LdContextNotAvailable

#: Default bound on nested remote @context references (URL -> document -> URL ...).
MAX_DEPTH = 16
#: Default bound on the number of terms one compiled @context may hold.
MAX_TERMS = 10_000
#: Bound on how many remote @context documents one compilation may apply (diamond imports).
MAX_LOADS = 1_000

_CONTEXT_LEVEL_KEYS = frozenset({
    "@base", "@direction", "@import", "@language", "@propagate", "@protected", "@version",
    "@vocab",
})


def invalid(detail: str) -> BadRequestData:
    """The error raised for an @context that is not a valid JSON-LD context (§5.5.7)."""
    return BadRequestData(f"Invalid @context: {detail}")


def remote_context_value(document: Any, url: str) -> Any:
    """The "@context" member of a dereferenced context document (JSON-LD 1.1 API §4.1.2 5.2.5)."""
    if not isinstance(document, dict) or "@context" not in document:
        raise invalid(f"the document at {url} is not a JSON object with an @context member")
    return document["@context"]


class ContextProcessor:
    """Applies @context values, in order, onto an active context.

    `initial_terms`/`initial_vocab` form the starting active context (for NGSI-LD: the Core
    @context, so user contexts can use its prefixes). Terms named in `overridable` may be
    redefined even when protected, because the caller re-applies them last (§5.5.7: the Core
    @context is treated as if it were in the last position and always takes precedence).
    URLs for which `skip_url` is true are ignored (references to the Core @context itself).
    """

    def __init__(self, documents: Mapping[str, Any], *,
                 initial_terms: Mapping[str, TermDefinition] | None = None,
                 initial_vocab: str | None = None,
                 overridable: frozenset[str] = frozenset(),
                 skip_url: Callable[[str], bool] = lambda _url: False,
                 max_depth: int = MAX_DEPTH, max_terms: int = MAX_TERMS,
                 allow_scoped_contexts: bool = False) -> None:
        self._documents = documents
        self._allow_scoped = allow_scoped_contexts
        self._initial_terms = dict(initial_terms or {})
        self._initial_vocab = initial_vocab
        self._overridable = overridable
        self._skip_url = skip_url
        self._max_depth = max_depth
        self._max_terms = max_terms
        self._loads = 0
        self.terms: dict[str, TermDefinition] = dict(self._initial_terms)
        self.vocab: str | None = initial_vocab
        self.language: str | None = None
        self.direction: str | None = None
        self._protected_default = False

    # -- entry point -------------------------------------------------------------------

    def apply(self, value: Any, url_stack: tuple[str, ...] = (), nesting: int = 0) -> None:
        """Apply one @context value: null, a URL, an object or an array of those."""
        if nesting > self._max_depth:
            raise invalid(f"@context arrays nested deeper than {self._max_depth} levels")
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None:
                self._reset()
            elif isinstance(item, list):
                self.apply(item, url_stack, nesting + 1)
            elif isinstance(item, str):
                self._apply_url(item, url_stack, nesting)
            elif isinstance(item, dict):
                self._apply_local(item, url_stack)
            else:
                raise invalid(f"an @context entry must be a URL, an object or null, not "
                              f"{type(item).__name__}")

    # -- remote contexts ---------------------------------------------------------------

    def _load(self, url: str, url_stack: tuple[str, ...]) -> Any:
        if url in url_stack:
            chain = " -> ".join((*url_stack, url))
            raise invalid(f"cyclic @context reference: {chain}")
        if len(url_stack) >= self._max_depth:
            raise invalid(f"remote @context references nested deeper than {self._max_depth} "
                          f"levels at {url}")
        if url not in self._documents:
            raise LdContextNotAvailable(f"The @context {url} is not available")
        self._loads += 1
        if self._loads > MAX_LOADS:
            raise invalid(f"more than {MAX_LOADS} remote @context references")
        return remote_context_value(self._documents[url], url)

    def _apply_url(self, url: str, url_stack: tuple[str, ...], nesting: int) -> None:
        if self._skip_url(url):
            return
        self.apply(self._load(url, url_stack), (*url_stack, url), nesting + 1)

    # -- local contexts ----------------------------------------------------------------

    def _reset(self) -> None:
        for term, definition in self.terms.items():
            if definition.protected and term not in self._overridable:
                raise invalid(f"cannot nullify an @context holding the protected term '{term}'")
        self.terms = dict(self._initial_terms)
        self.vocab = self._initial_vocab
        self.language = self.direction = None

    def _apply_local(self, local: dict[str, Any], url_stack: tuple[str, ...]) -> None:
        if "@import" in local:
            local = self._merge_import(local, url_stack)
        if "@version" in local and local["@version"] != 1.1:
            raise invalid(f"unsupported @version {local['@version']!r} (only 1.1)")
        for flag in ("@propagate", "@protected"):
            if flag in local and not isinstance(local[flag], bool):
                raise invalid(f"{flag} must be true or false")
        if "@base" in local and not isinstance(local["@base"], str | None):
            raise invalid("@base must be a string or null")
        self._protected_default = bool(local.get("@protected", False))
        if "@vocab" in local:
            self._set_vocab(local["@vocab"], local)
        if "@language" in local:
            if not isinstance(local["@language"], str | None):
                raise invalid("@language must be a string or null")
            self.language = local["@language"]
        if "@direction" in local:
            if local["@direction"] not in ("ltr", "rtl", None):
                raise invalid("@direction must be \"ltr\", \"rtl\" or null")
            self.direction = local["@direction"]
        defined: dict[str, bool] = {}
        for term in local:
            if term not in _CONTEXT_LEVEL_KEYS:
                self._define(local, term, defined)
        if len(self.terms) > self._max_terms:
            raise invalid(f"more than {self._max_terms} terms")

    def _merge_import(self, local: dict[str, Any], url_stack: tuple[str, ...]) -> dict[str, Any]:
        url = local["@import"]
        if not isinstance(url, str):
            raise invalid("@import must be a URL string")
        imported = self._load(url, url_stack)
        if not isinstance(imported, dict):
            raise invalid(f"the @context imported from {url} must be a single object")
        if "@import" in imported:
            raise invalid(f"the @context imported from {url} must not itself use @import")
        return {**imported, **{k: v for k, v in local.items() if k != "@import"}}

    def _set_vocab(self, value: Any, local: dict[str, Any]) -> None:
        if value is None:
            self.vocab = None
            return
        if not isinstance(value, str):
            raise invalid("@vocab must be a string or null")
        expanded = self._expand(value, local, {}) if value else (self.vocab or "")
        if expanded is None or not (is_absolute_iri(expanded) or expanded.startswith("_:")):
            raise invalid(f"@vocab {value!r} is not an IRI")
        self.vocab = expanded

    # -- term definitions --------------------------------------------------------------

    def _define(self, local: dict[str, Any], term: str, defined: dict[str, bool]) -> None:
        """JSON-LD 1.1 API §4.2.2 "Create Term Definition", reduced to what NGSI-LD uses."""
        state = defined.get(term)
        if state is True:
            return
        if state is False:
            raise invalid(f"cyclic IRI mapping involving term '{term}'")
        if term == "":
            raise invalid("empty term")
        defined[term] = False
        value = local[term]
        if term in KEYWORDS or looks_like_keyword(term):
            if term in KEYWORDS and term != "@type":
                raise invalid(f"keyword redefinition of '{term}'")
            defined[term] = True  # "@type" container tweaks and reserved forms: ignored
            return
        previous = self.terms.pop(term, None)
        simple = isinstance(value, str)
        if value is None:
            value = {"@id": None}
        elif simple:
            value = {"@id": value}
        elif not isinstance(value, dict):
            raise invalid(f"the definition of term '{term}' must be a string, an object or null")
        unknown = set(value) - TERM_DEFINITION_KEYS
        if unknown:
            raise invalid(f"term '{term}' has unsupported keys {sorted(unknown)}")
        if "@context" in value and not self._allow_scoped:
            raise invalid(f"term '{term}' has a scoped @context; user @contexts shall not "
                          f"contain JSON-LD scoped contexts (ETSI GS CIM 009 §5.5.7)")
        definition = self._build(local, term, value, defined, simple)
        if previous is not None and previous.protected and term not in self._overridable:
            if definition is None or not previous.same_meaning(definition):
                raise invalid(f"protected term redefinition of '{term}'")
            definition = previous
        if definition is not None:  # None: explicitly decoupled ("term": null) or ignored
            self.terms[term] = definition
        defined[term] = True

    def _build(self, local: dict[str, Any], term: str, value: dict[str, Any],
               defined: dict[str, bool], simple: bool) -> TermDefinition | None:
        protected = value.get("@protected", self._protected_default)
        if not isinstance(protected, bool):
            raise invalid(f"@protected of term '{term}' must be true or false")
        reverse = "@reverse" in value
        iri: str | None
        if reverse:
            if "@id" in value or "@nest" in value:
                raise invalid(f"term '{term}' combines @reverse with @id or @nest")
            iri = self._expand_checked(value["@reverse"], local, defined, term)
        elif "@id" in value and value["@id"] != term:
            raw = value["@id"]
            if raw is None:
                return None
            if not isinstance(raw, str):
                raise invalid(f"the @id of term '{term}' must be a string")
            if looks_like_keyword(raw) and raw not in KEYWORDS:
                return None
            iri = self._expand_checked(raw, local, defined, term)
            if iri == "@context":
                raise invalid(f"term '{term}' cannot alias @context")
            if ":" in term[1:-1] or "/" in term:
                defined[term] = True
                if self._expand(term, local, defined) != iri:
                    raise invalid(f"term '{term}' looks like an IRI but maps to a different IRI")
        else:
            iri = self._derive_iri(local, term, defined)
        prefix = simple and ":" not in term and "/" not in term and iri[-1:] in GEN_DELIMS
        if "@prefix" in value:
            if not isinstance(value["@prefix"], bool) or ":" in term or "/" in term:
                raise invalid(f"invalid @prefix in term '{term}'")
            prefix = value["@prefix"]
            if prefix and iri in KEYWORDS:
                raise invalid(f"keyword alias '{term}' cannot be a prefix")
        return TermDefinition(
            iri=iri, type_mapping=self._type_mapping(local, term, value, defined),
            container=self._container(term, value, reverse), protected=protected,
            prefix=prefix, reverse=reverse,
            language=self._optional_str(term, value, "@language"),
            direction=self._direction(term, value),
            index=self._optional_str(term, value, "@index"),
            nest=self._optional_str(term, value, "@nest"),
            scoped_context=value.get("@context"))

    def _derive_iri(self, local: dict[str, Any], term: str, defined: dict[str, bool]) -> str:
        if ":" in term[1:]:
            prefix, suffix = term.split(":", 1)
            if prefix in local:
                self._define(local, prefix, defined)
            found = self.terms.get(prefix)
            if found is not None and prefix != "_" and not suffix.startswith("//"):
                return found.iri + suffix
            return term
        if "/" in term:
            return term
        return (self.vocab or DEFAULT_CONTEXT_VOCAB) + term

    def _type_mapping(self, local: dict[str, Any], term: str, value: dict[str, Any],
                      defined: dict[str, bool]) -> str | None:
        if "@type" not in value:
            return None
        raw = value["@type"]
        if not isinstance(raw, str):
            raise invalid(f"the @type of term '{term}' must be a string")
        if raw in TYPE_KEYWORDS:
            return raw
        expanded = self._expand(raw, local, defined)
        if expanded is None or not is_absolute_iri(expanded):
            raise invalid(f"the @type {raw!r} of term '{term}' is not an IRI")
        return expanded

    @staticmethod
    def _container(term: str, value: dict[str, Any], reverse: bool) -> tuple[str, ...]:
        raw = value.get("@container")
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(c, str) and c in CONTAINER_KEYWORDS for c in items):
            raise invalid(f"invalid @container {raw!r} in term '{term}'")
        if reverse and not set(items) <= {"@set", "@index"}:
            raise invalid(f"reverse term '{term}' only allows @set or @index containers")
        return tuple(items)

    @staticmethod
    def _optional_str(term: str, value: dict[str, Any], key: str) -> str | None:
        raw = value.get(key)
        if raw is not None and not isinstance(raw, str):
            raise invalid(f"{key} of term '{term}' must be a string")
        return raw

    @staticmethod
    def _direction(term: str, value: dict[str, Any]) -> str | None:
        raw = value.get("@direction")
        if raw not in ("ltr", "rtl", None):
            raise invalid(f"@direction of term '{term}' must be \"ltr\", \"rtl\" or null")
        return raw

    # -- IRI expansion -----------------------------------------------------------------

    def _expand_checked(self, raw: Any, local: dict[str, Any], defined: dict[str, bool],
                        term: str) -> str:
        if not isinstance(raw, str):
            raise invalid(f"the IRI of term '{term}' must be a string")
        iri = self._expand(raw, local, defined)
        if iri is None or not (iri in KEYWORDS or is_absolute_iri(iri) or iri.startswith("_:")):
            raise invalid(f"term '{term}' maps to {raw!r}, which is not an IRI")
        return iri

    def _expand(self, value: str, local: dict[str, Any], defined: dict[str, bool]) -> str | None:
        """Vocabulary-relative IRI expansion (JSON-LD 1.1 API §5.2) inside a context."""
        if value in KEYWORDS:
            return value
        if looks_like_keyword(value):
            return None
        if value in local and value not in _CONTEXT_LEVEL_KEYS and defined.get(value) is not True:
            self._define(local, value, defined)
        found = self.terms.get(value)
        if found is not None:
            return found.iri
        if ":" in value[1:]:
            prefix, suffix = value.split(":", 1)
            if prefix == "_" or suffix.startswith("//"):
                return value
            if prefix in local and defined.get(prefix) is not True:
                self._define(local, prefix, defined)
            found = self.terms.get(prefix)
            if found is not None and found.prefix:
                return found.iri + suffix
            if is_absolute_iri(value):
                return value
        return (self.vocab or DEFAULT_CONTEXT_VOCAB) + value
