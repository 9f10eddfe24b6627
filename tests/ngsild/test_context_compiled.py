"""Compiled @contexts: expansion, compaction and validation (ETSI GS CIM 009 §5.5.7, annex B)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityos.ngsild.context import (
    CORE_CONTEXT_URL,
    DEFAULT_CONTEXT_VOCAB,
    CompiledContext,
    compile_context,
    core_context,
    core_document,
    is_core_context_url,
)
from cityos.ngsild.errors import BadRequestData, LdContextNotAvailable

NGSI = "https://uri.etsi.org/ngsi-ld/"
EX = "https://example.org/"

USER_CONTEXT: dict[str, Any] = {
    "ex": EX,
    "Vehicle": "https://example.org/Vehicle",
    "brandName": {"@id": "https://example.org/brandName", "@type": "@vocab"},
    "speed": "ex:speed",
    "Toyota": "ex:brands/Toyota",
}


@pytest.fixture(scope="module")
def user() -> CompiledContext:
    return compile_context([USER_CONTEXT, CORE_CONTEXT_URL])


# -- the shipped Core @context ---------------------------------------------------------------

def test_core_document_is_the_v1_8_publication() -> None:
    context = core_document()["@context"]
    assert context["@version"] == 1.1 and context["@protected"] is True
    assert context["@vocab"] == DEFAULT_CONTEXT_VOCAB
    # Terms introduced up to v1.8 of the Core @context.
    for term in ("expandValues", "geometryProperty", "jsonKeys", "VocabProperty", "omit"):
        assert term in context
    assert len(context) == 184


def test_core_context_is_a_singleton() -> None:
    assert core_context() is core_context()
    assert compile_context(None) is core_context()


@pytest.mark.parametrize(("term", "iri"), [
    ("location", NGSI + "location"),
    ("observedAt", NGSI + "observedAt"),
    ("GeoProperty", NGSI + "GeoProperty"),
    ("Property", NGSI + "Property"),
    ("value", NGSI + "hasValue"),
    ("object", NGSI + "hasObject"),
    ("containedBy", NGSI + "isContainedBy"),
    ("coordinates", "https://purl.org/geojson/vocab#coordinates"),
    ("description", "http://purl.org/dc/terms/description"),
    ("attributeCount", DEFAULT_CONTEXT_VOCAB + "attributeCount"),
    ("id", "@id"),
    ("type", "@type"),
])
def test_core_terms_expand_and_compact(term: str, iri: str) -> None:
    core = core_context()
    assert core.expand_term(term) == iri
    assert core.compact_iri(iri) == term


def test_core_coercions_and_containers() -> None:
    core = core_context()
    assert core.coercion("observedAt") == NGSI + "DateTime"
    assert core.coercion("object") == "@id"
    assert core.coercion("vocab") == "@vocab"
    assert core.coercion("json") == "@json"
    assert core.coercion("location") is None
    assert core.coercion("unknownTerm") is None
    assert core.container("coordinates") == ("@list",)
    assert core.container("languageMap") == ("@language",)
    definition = core.definition("observedAt")
    assert definition is not None and definition.protected


def test_unknown_terms_use_the_default_context() -> None:
    core = core_context()
    assert core.expand_term("temperature") == DEFAULT_CONTEXT_VOCAB + "temperature"
    assert core.compact_iri(DEFAULT_CONTEXT_VOCAB + "temperature") == "temperature"
    # A default-context IRI whose local name is a term must not compact to that term.
    shadowed = DEFAULT_CONTEXT_VOCAB + "location"
    assert core.compact_iri(shadowed) == "ngsi-ld:default-context/location"
    assert core.expand_term("ngsi-ld:default-context/location") == shadowed


def test_absolute_iris_and_keywords_pass_through() -> None:
    core = core_context()
    for value in ("https://example.org/x", "urn:ngsi-ld:Thing:1", "_:b0", "@id", "@context"):
        assert core.expand_term(value) == value
    assert core.compact_iri("https://other.example/x") == "https://other.example/x"
    assert core.compact_iri("@type") == "type"
    assert core.compact_iri("@graph") == "@graph"


def test_core_prefixes_compact_unknown_core_iris() -> None:
    core = core_context()
    assert core.compact_iri(NGSI + "somethingNew") == "ngsi-ld:somethingNew"
    assert core.expand_term("ngsi-ld:somethingNew") == NGSI + "somethingNew"
    assert core.expand_term("geojson:Thing") == "https://purl.org/geojson/vocab#Thing"


# -- user @contexts -----------------------------------------------------------------------------

def test_user_terms(user: CompiledContext) -> None:
    assert user.expand_term("Vehicle") == EX + "Vehicle"
    assert user.compact_iri(EX + "Vehicle") == "Vehicle"
    assert user.expand_term("brandName") == EX + "brandName"
    assert user.coercion("brandName") == "@vocab"
    assert user.expand_term("location") == NGSI + "location"  # Core still applies
    assert user.expand_term("other") == DEFAULT_CONTEXT_VOCAB + "other"
    assert user.source == [USER_CONTEXT, CORE_CONTEXT_URL]


def test_compact_iris(user: CompiledContext) -> None:
    assert user.expand_term("ex:speed") == EX + "speed"
    assert user.expand_term("speed") == EX + "speed"
    assert user.compact_iri(EX + "speed") == "speed"  # an exact term wins over ex:speed
    assert user.expand_term("ex:fuel") == EX + "fuel"
    assert user.compact_iri(EX + "fuel") == "ex:fuel"
    assert user.expand_term("ex://not-a-prefix") == "ex://not-a-prefix"


def test_vocab_values(user: CompiledContext) -> None:
    assert user.expand_vocab_value("Toyota") == EX + "brands/Toyota"
    assert user.compact_vocab_value(EX + "brands/Toyota") == "Toyota"
    assert user.expand_vocab_value("Honda") == DEFAULT_CONTEXT_VOCAB + "Honda"
    assert user.compact_vocab_value(DEFAULT_CONTEXT_VOCAB + "Honda") == "Honda"
    # Keyword aliases are plain words when used as vocabulary values.
    assert user.expand_vocab_value("id") == DEFAULT_CONTEXT_VOCAB + "id"
    assert user.expand_term("id") == "@id"


def test_core_takes_precedence_over_user_redefinitions() -> None:
    ctx = compile_context([{"location": "https://example.org/myLocation",
                            "@vocab": "https://example.org/vocab/",
                            "Car": {"@type": "@id"}}])
    assert ctx.expand_term("location") == NGSI + "location"
    # The Core @vocab is in force for unknown terms; the user @vocab shaped user terms.
    assert ctx.expand_term("unknown") == DEFAULT_CONTEXT_VOCAB + "unknown"
    assert ctx.expand_term("Car") == "https://example.org/vocab/Car"


def test_user_terms_may_use_core_prefixes_and_terms() -> None:
    ctx = compile_context({"myLoc": "location", "special": "ngsi-ld:special"})
    assert ctx.expand_term("myLoc") == NGSI + "location"
    assert ctx.expand_term("special") == NGSI + "special"


def test_without_core_the_user_vocab_applies() -> None:
    ctx = compile_context({"@vocab": "https://example.org/v/"}, with_core=False)
    assert ctx.expand_term("anything") == "https://example.org/v/anything"
    assert ctx.compact_iri("https://example.org/v/anything") == "anything"
    assert "location" not in ctx
    with_core_url = compile_context([CORE_CONTEXT_URL], with_core=False)
    assert with_core_url.expand_term("location") == NGSI + "location"


def test_nested_arrays_null_reset_and_later_definitions_win() -> None:
    ctx = compile_context([[{"a": "https://example.org/a1"}], [[{"a": "https://example.org/a2"}]]])
    assert ctx.expand_term("a") == "https://example.org/a2"
    reset = compile_context([{"b": "https://example.org/b"}, None, {"c": "https://example.org/c"}])
    assert reset.expand_term("b") == DEFAULT_CONTEXT_VOCAB + "b"
    assert reset.expand_term("c") == "https://example.org/c"


def test_terms_defined_in_dependency_order() -> None:
    ctx = compile_context({"speed": "ex:speed", "ex": EX,
                           "kmh": {"@id": "ex:kmh", "@type": "ex:Unit"}})
    assert ctx.expand_term("speed") == EX + "speed"
    assert ctx.coercion("kmh") == EX + "Unit"


def test_null_term_definition_decouples_the_term() -> None:
    ctx = compile_context([{"a": "https://example.org/a"}, {"a": None}])
    assert ctx.expand_term("a") == DEFAULT_CONTEXT_VOCAB + "a"


def test_reverse_terms_are_recorded_not_expanded() -> None:
    ctx = compile_context({"children": {"@reverse": "https://example.org/parent"}})
    definition = ctx.definition("children")
    assert definition is not None and definition.reverse
    assert ctx.expand_term("children") == DEFAULT_CONTEXT_VOCAB + "children"


# -- remote @contexts (pre-fetched documents) --------------------------------------------------

def test_remote_documents_and_import() -> None:
    docs = {
        "https://ctx.example/a": {"@context": ["https://ctx.example/b", {"A": "ex:A", "ex": EX}]},
        "https://ctx.example/b": {"@context": {"B": "https://example.org/B"}},
        "https://ctx.example/base": {"@context": {"Base": "https://example.org/Base"}},
    }
    ctx = compile_context(["https://ctx.example/a",
                           {"@import": "https://ctx.example/base", "X": "https://example.org/X"}],
                          documents=docs)
    assert ctx.expand_term("A") == EX + "A"
    assert ctx.expand_term("B") == EX + "B"
    assert ctx.expand_term("Base") == EX + "Base"
    assert ctx.expand_term("X") == EX + "X"


def test_remote_cycle_is_rejected() -> None:
    docs = {"https://c/1": {"@context": "https://c/2"}, "https://c/2": {"@context": ["https://c/1"]}}
    with pytest.raises(BadRequestData, match="cyclic"):
        compile_context("https://c/1", documents=docs)


def test_remote_depth_is_bounded() -> None:
    docs: dict[str, Any] = {f"https://c/{i}": {"@context": f"https://c/{i + 1}"} for i in range(30)}
    docs["https://c/30"] = {"@context": {}}
    with pytest.raises(BadRequestData, match="deeper than 16"):
        compile_context("https://c/0", documents=docs)
    assert "x" not in compile_context("https://c/25", documents=docs)


def test_missing_remote_document() -> None:
    with pytest.raises(LdContextNotAvailable, match=r"https://nowhere\.example/ctx"):
        compile_context("https://nowhere.example/ctx")


def test_old_core_context_urls_map_to_the_shipped_core() -> None:
    for url in ("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
                "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
                "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
                CORE_CONTEXT_URL):
        assert is_core_context_url(url)
        assert compile_context(url).expand_term("observedAt") == NGSI + "observedAt"
    assert not is_core_context_url("https://uri.etsi.org/ngsi-ld/v1/other.jsonld")


# -- invalid @contexts -------------------------------------------------------------------------

@pytest.mark.parametrize(("context", "message"), [
    (42, "must be a URL, an object or null"),
    ({"a": 5}, "must be a string, an object or null"),
    ({"@version": 1.0}, "@version"),
    ({"@id": "https://example.org/x"}, "keyword redefinition"),
    ({"a": {"@id": "https://example.org/a", "@container": "@bag"}}, "@container"),
    ({"a": {"@id": "https://example.org/a", "@wrong": 1}}, "unsupported keys"),
    ({"a": {"@id": 3}}, "must be a string"),
    ({"a": {"@id": "https://example.org/a", "@type": 7}}, "@type"),
    ({"a": "b:x", "b": "a:y"}, "cyclic IRI mapping"),
    ({"a": {"@id": "https://example.org/a", "@protected": "yes"}}, "@protected"),
    ({"@vocab": 5}, "@vocab"),
    ({"": "https://example.org/empty"}, "empty term"),
    ({"a": {"@id": "https://example.org/a", "@context": {"value": "https://e.org/v"}}},
     "scoped @context"),
])
def test_invalid_contexts(context: Any, message: str) -> None:
    with pytest.raises(BadRequestData, match=message):
        compile_context(context)


def test_protected_user_terms() -> None:
    protected = {"@protected": True, "p": "https://example.org/p"}
    with pytest.raises(BadRequestData, match="protected term redefinition"):
        compile_context([protected, {"p": "https://example.org/other"}])
    same = compile_context([protected, {"p": "https://example.org/p"}])
    assert same.expand_term("p") == "https://example.org/p"
    with pytest.raises(BadRequestData, match="protected"):
        compile_context([protected, None])


def test_too_many_terms() -> None:
    many = {f"t{i}": f"https://example.org/t{i}" for i in range(50)}
    with pytest.raises(BadRequestData, match="more than"):
        compile_context(many, with_core=False, max_terms=10)


# -- properties and speed ----------------------------------------------------------------------

terms = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                max_size=20)


@given(terms)
def test_compaction_round_trips(term: str) -> None:
    ctx = compile_context([USER_CONTEXT])
    iri = ctx.expand_term(term)
    assert ctx.expand_term(ctx.compact_iri(iri)) == iri


def test_expansion_is_fast_after_compilation(user: CompiledContext) -> None:
    names = ["location", "observedAt", "Vehicle", "speed", "brandName", "temperature",
             "ex:fuel", "https://example.org/x", "name", "GeoProperty"]
    for i in range(100_000):
        user.expand_term(names[i % 10])
    for i in range(10_000):
        user.compact_iri(user.expand_term(names[i % 10]))
