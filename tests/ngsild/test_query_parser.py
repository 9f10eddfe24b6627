"""Parsers of the NGSI-LD query languages (ETSI GS CIM 009 clauses 4.9, 4.17, 4.19, 4.21)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.ngsild.errors import InvalidRequest, NgsiLdError, TooComplexQuery
from cityos.ngsild.query import (
    Absence,
    And,
    AttrPath,
    AttrSelector,
    Comparison,
    DateTimeValue,
    Existence,
    Op,
    Or,
    ScopeAnd,
    ScopeOr,
    ScopePattern,
    TypeAnd,
    TypeName,
    TypeOr,
    ValueList,
    ValueRange,
    parse_attribute_list,
    parse_q,
    parse_scope_q,
    parse_type_expression,
)

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def expand(term: str) -> str:
    return term if ":" in term else DEFAULT + term


def d(term: str) -> str:
    return DEFAULT + term


def q(text: str):  # type: ignore[no-untyped-def]
    return parse_q(text, expand)


def path(attr: str, *subs: str, member: str | None = None, keys: tuple[str, ...] = ()
         ) -> AttrPath:
    return AttrPath(d(attr), tuple(d(s) for s in subs), member, keys)


# ---------------------------------------------------------------- terms and operators

@pytest.mark.parametrize(("text", "op"), [
    ("speed==1", Op.EQ), ("speed!=1", Op.NE), ("speed>1", Op.GT), ("speed>=1", Op.GE),
    ("speed<1", Op.LT), ("speed<=1", Op.LE),
])
def test_comparison_operators(text: str, op: Op) -> None:
    assert q(text) == Comparison(path("speed"), op, 1)


def test_pattern_operators() -> None:
    assert q('name~="^Ma.*"') == Comparison(path("name"), Op.MATCH, "^Ma.*")
    assert q("name!~=abc") == Comparison(path("name"), Op.NOT_MATCH, "abc")


def test_bare_attribute_is_existence() -> None:
    assert q("speed") == Existence(path("speed"))
    assert q("speed.observedAt") == Existence(path("speed", member="observedAt"))


def test_negated_existence() -> None:
    """V1.9 clause 4.9 `!attr`; `!=` and `!~=` stay comparisons."""
    assert q("!speed") == Absence(path("speed"))
    assert q("!speed.observedAt") == Absence(path("speed", member="observedAt"))
    assert q("!speed;a>1") == And((Absence(path("speed")), Comparison(path("a"), Op.GT, 1)))
    assert q("(a|!b)") == Or((Existence(path("a")), Absence(path("b"))))
    assert q("a!=1") == Comparison(path("a"), Op.NE, 1)
    assert q("a!~=x") == Comparison(path("a"), Op.NOT_MATCH, "x")


@pytest.mark.parametrize("text", ["!speed==1", "!", "!!speed", "a;!", "!(a)", "!rel{a}",
                                  "a !b", "!a b"])
def test_negated_existence_errors(text: str) -> None:
    with pytest.raises(InvalidRequest):
        q(text)


@pytest.mark.parametrize(("text", "value"), [
    ("a==12", 12), ("a==-3", -3), ("a==1.5", 1.5), ("a==1e3", 1000.0), ("a==true", True),
    ("a==false", False), ('a=="x y"', "x y"), ('a=="q\\"uote\\\\"', 'q"uote\\'),
    ('a=="\\u00e9"', "é"), ('a=="1"', "1"), ("a==urn:ngsi-ld:Car:1", "urn:ngsi-ld:Car:1"),
    ("a==http://example.org/x", "http://example.org/x"), ("a==2018-12-04", "2018-12-04"),
    ("a==12:00:00", "12:00:00"), ("a==plain", "plain"), ('a=="true"', "true"),
])
def test_values(text: str, value: object) -> None:
    node = q(text)
    assert isinstance(node, Comparison)
    assert node.value == value
    assert type(node.value) is type(value)


@pytest.mark.parametrize(("text", "canonical"), [
    ("2018-12-04T12:00:00Z", "2018-12-04T12:00:00.000000Z"),
    ("2018-12-04T12:00:00.5Z", "2018-12-04T12:00:00.500000Z"),
    ("2018-12-04T12:00:00.1234567Z", "2018-12-04T12:00:00.123456Z"),
    ("2018-12-04T12:00:00+01:00", "2018-12-04T11:00:00.000000Z"),
    ("2018-12-04T12:00:00", "2018-12-04T12:00:00.000000Z"),
    ("2018-12-04T12:00Z", "2018-12-04T12:00:00.000000Z"),
])
def test_datetime_values_are_canonical_utc(text: str, canonical: str) -> None:
    assert q("a.observedAt>" + text) == Comparison(
        path("a", member="observedAt"), Op.GT, DateTimeValue(canonical))


def test_quoted_datetime_is_a_string() -> None:
    node = q('a=="2018-12-04T12:00:00Z"')
    assert isinstance(node, Comparison) and node.value == "2018-12-04T12:00:00Z"


def test_value_list_and_range() -> None:
    assert q("a==1,2,3") == Comparison(path("a"), Op.EQ, ValueList((1, 2, 3)))
    assert q('a!="x",2,true') == Comparison(path("a"), Op.NE, ValueList(("x", 2, True)))
    assert q("a==1..10") == Comparison(path("a"), Op.EQ, ValueRange(1, 10))
    assert q('a=="a".."m"') == Comparison(path("a"), Op.EQ, ValueRange("a", "m"))
    assert q("a.observedAt==2018-01-01T00:00:00Z..2019-01-01T00:00:00Z") == Comparison(
        path("a", member="observedAt"), Op.EQ,
        ValueRange(DateTimeValue("2018-01-01T00:00:00.000000Z"),
                   DateTimeValue("2019-01-01T00:00:00.000000Z")))
    assert q("a==1.5..2") == Comparison(path("a"), Op.EQ, ValueRange(1.5, 2))


# ---------------------------------------------------------------- attribute paths

def test_attribute_paths() -> None:
    assert q("a.b==1") == Comparison(path("a", "b"), Op.EQ, 1)
    assert q("a.b.c==1") == Comparison(path("a", "b", "c"), Op.EQ, 1)
    assert q("a.b.unitCode==\"CEL\"") == Comparison(path("a", "b", member="unitCode"),
                                                     Op.EQ, "CEL")
    assert q("a[k]==1") == Comparison(path("a", keys=("k",)), Op.EQ, 1)
    assert q("a[k.l]==1") == Comparison(path("a", keys=("k", "l")), Op.EQ, 1)
    assert q("a[k][l]==1") == Comparison(path("a", keys=("k", "l")), Op.EQ, 1)
    assert q("a.b[k]==1") == Comparison(path("a", "b", keys=("k",)), Op.EQ, 1)
    for member in ("observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId",
                   "objectType"):
        node = q(f"a.{member}")
        assert node == Existence(path("a", member=member))


@pytest.mark.parametrize(("text", "expected"), [
    ("http://example.org/a==1", AttrPath("http://example.org/a")),
    ("https://example.org/speed>3", AttrPath("https://example.org/speed")),
    ("https://example.org/ns#speed==3", AttrPath("https://example.org/ns#speed")),
    ("http://ex.org/v1.2/speed==3", AttrPath("http://ex.org/v1.2/speed")),
    ("http://ex.org/speed.observedAt==3", AttrPath("http://ex.org/speed", member="observedAt")),
    ("http://ex.org/speed.http://ex.org/acc==3",
     AttrPath("http://ex.org/speed", ("http://ex.org/acc",))),
    ("http://ex.org/speed.sub==3", AttrPath("http://ex.org/speed", (d("sub"),))),
    ("ex:speed.observedAt==3", AttrPath("ex:speed", member="observedAt")),
    ("urn:ngsi-ld:attr:speed==3", AttrPath("urn:ngsi-ld:attr:speed")),
    ("http://ex.org/a[k.l]==3", AttrPath("http://ex.org/a", keys=("k", "l"))),
])
def test_iri_attribute_names(text: str, expected: AttrPath) -> None:
    node = q(text)
    assert isinstance(node, Comparison)
    assert node.path == expected


def test_members_and_keys_are_not_expanded() -> None:
    seen: list[str] = []

    def recording(term: str) -> str:
        seen.append(term)
        return expand(term)

    parse_q("a.b.observedAt==1;c[k.l]==2", recording)
    assert seen == ["a", "b", "c"]


# ---------------------------------------------------------------- logical structure

def test_and_binds_tighter_than_or() -> None:
    a, b, c = (Existence(path(x)) for x in "abc")
    assert q("a;b|c") == Or((And((a, b)), c))
    assert q("a|b;c") == Or((a, And((b, c))))
    assert q("(a|b);c") == And((Or((a, b)), c))
    assert q("((a))") == a
    assert q(" a == 1 ; b ") == And((Comparison(path("a"), Op.EQ, 1), Existence(path("b"))))


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize(("text", "column"), [
    ("a=1", 2), ("a==", 4), ("a==1;", 6), ("(a==1", 6), ("a==1)", 5), ("a==null", 4),
    ("==1", 1), ("a>true", 3), ("a>abc", 3), ("a==1..", 7), ("a==1,", 6), ('a=="x', 4),
    ('a~="("', 4), ("a==1 2", 6), ("a.observedAt[k]==1", 1), ("a[k==1", 2), ("a;;b", 3),
    ("a==2018-13-45", 4), ("a==1..true", 4), ('a==1.."x"', 4), ("a>1,2", 4), ("a[]==1", 3),
    ("a.observedAt.b==1", 1), ("a==(1)", 4), ('a=="\\x"', 5), ("|a", 1), ("a b", 3),
])
def test_syntax_errors_name_the_column(text: str, column: int) -> None:
    with pytest.raises(InvalidRequest) as info:
        q(text)
    assert f"column {column}:" in info.value.detail
    assert info.value.status == 400


def test_empty_q_is_rejected() -> None:
    with pytest.raises(InvalidRequest):
        q("  ")


def test_error_message_says_what_was_expected() -> None:
    with pytest.raises(InvalidRequest, match=r"expected ';', '\|' or end of input"):
        q("a==1)")
    with pytest.raises(InvalidRequest, match="expected one of the operators"):
        q("a=1")


def test_deep_nesting_is_too_complex_not_a_recursion_error() -> None:
    with pytest.raises(TooComplexQuery):
        q("(" * 10_000 + "a" + ")" * 10_000)
    q("(" * 64 + "a" + ")" * 64)
    with pytest.raises(TooComplexQuery):
        q("(" * 65 + "a" + ")" * 65)


def test_size_limits() -> None:
    with pytest.raises(TooComplexQuery):
        q("a==1;" * 10_000 + "a")
    with pytest.raises(TooComplexQuery):
        q(";".join(["a"] * 300))
    with pytest.raises(TooComplexQuery):
        q("a==" + ",".join(["1"] * 2000))
    with pytest.raises(TooComplexQuery):
        q('a~="' + "x" * 2000 + '"')


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab.:/#[]()|;,=!<>~"\\ 0123456789-TZ.', max_size=40))
def test_arbitrary_input_parses_or_fails_cleanly(text: str) -> None:
    with contextlib.suppress(NgsiLdError):
        q(text)


# ---------------------------------------------------------------- scopeQ

def test_scope_q() -> None:
    assert parse_scope_q("/Madrid/Gardens") == ScopePattern(("Madrid", "Gardens"))
    assert parse_scope_q("/Madrid/#") == ScopePattern(("Madrid",), descendants=True)
    assert parse_scope_q("/#") == ScopePattern((), descendants=True)
    assert parse_scope_q("/Madrid/+") == ScopePattern(("Madrid", "+"))
    assert parse_scope_q("/+/Gardens/#") == ScopePattern(("+", "Gardens"), True)
    assert parse_scope_q("/a;/b,/c") == ScopeOr((ScopeAnd((ScopePattern(("a",)),
                                                           ScopePattern(("b",)))),
                                                 ScopePattern(("c",))))
    assert parse_scope_q("/a|(/b;/c)") == ScopeOr((ScopePattern(("a",)), ScopeAnd((
        ScopePattern(("b",)), ScopePattern(("c",))))))


@pytest.mark.parametrize("text", ["", "Madrid", "/", "/a//b", "/a/#/b", "/a#", "/a+",
                                  "/a;", "(/a", "/a)", "/#/#"])
def test_bad_scope_q(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_scope_q(text)


def test_scope_q_nesting_limit() -> None:
    with pytest.raises(TooComplexQuery):
        parse_scope_q("(" * 5000 + "/a" + ")" * 5000)


# ---------------------------------------------------------------- type expressions

def test_type_expressions() -> None:
    a, b, c = (TypeName(d(x)) for x in "ABC")
    assert parse_type_expression("A", expand) == a
    assert parse_type_expression("A,B", expand) == TypeOr((a, b))
    assert parse_type_expression("A|B", expand) == TypeOr((a, b))
    assert parse_type_expression("A;B", expand) == TypeAnd((a, b))
    assert parse_type_expression("(A;B)|C", expand) == TypeOr((TypeAnd((a, b)), c))
    assert parse_type_expression("A;(B,C)", expand) == TypeAnd((a, TypeOr((b, c))))
    assert parse_type_expression("https://ex.org/T", expand) == TypeName("https://ex.org/T")


@pytest.mark.parametrize("text", ["", "A,", ",A", "(A", "A)", "A;;B", 'A"B', "()"])
def test_bad_type_expressions(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_type_expression(text, expand)


# ---------------------------------------------------------------- attribute lists

def test_attribute_lists() -> None:
    assert parse_attribute_list("a,b", expand) == (AttrSelector(d("a")), AttrSelector(d("b")))
    assert parse_attribute_list("id,type,scope,a", expand) == (
        AttrSelector("id"), AttrSelector("type"), AttrSelector("scope"), AttrSelector(d("a")))
    assert parse_attribute_list("a,a , http://ex.org/b", expand) == (
        AttrSelector(d("a")), AttrSelector("http://ex.org/b"))
    # Inside rel{…} the names select members and attributes of the linked entity, so the
    # entity members stay as they are there too.
    assert parse_attribute_list("a{b,c{type}},d", expand) == (
        AttrSelector(d("a"), (AttrSelector(d("b")),
                              AttrSelector(d("c"), (AttrSelector("type"),)))),
        AttrSelector(d("d")))


@pytest.mark.parametrize("text", ["", "a,", ",a", "a,,b", "a{", "a{}", "a}", "a{b", 'a"b',
                                  "a b"])
def test_bad_attribute_lists(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_attribute_list(text, expand)


def test_attribute_list_nesting_limit() -> None:
    with pytest.raises(TooComplexQuery):
        parse_attribute_list("a{" * 5000 + "b" + "}" * 5000, expand)
