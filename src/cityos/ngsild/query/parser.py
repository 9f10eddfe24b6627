"""Recursive-descent parsers of the NGSI-LD query languages (ETSI GS CIM 009 V1.8.1).

* `parse_q` — q-language, clause 4.9;
* `parse_scope_q` — scopeQ, clause 4.19;
* `parse_type_expression` — entity type selection, clause 4.17;
* `parse_attribute_list` — `attrs` / `pick` / `omit` lists, clauses 4.21 and 5.7.2.

Choices where the grammar leaves room:

* Precedence: `;` (AND) binds tighter than `|` (OR) in all three boolean languages, as in
  Orion-LD and Stellio; parentheses group. In scopeQ and type expressions `,` is an OR too.
* An unquoted value after `==` / `!=` that is neither a number, boolean nor date/time is a
  string (clause 4.9 allows URIs there; like Orion-LD any bare word is accepted). Ordering
  operators take numbers, quoted strings, DateTime, Date and Time only.
* An unquoted DateTime (`2018-12-04T12:00:00Z`) becomes a `DateTimeValue` in canonical UTC
  form; a missing offset means UTC (clause 4.6.3). A quoted one is a plain string.
* `~=` / `!~=` take a quoted or unquoted Python regular expression (`re.search`); patterns
  holding `;` `|` `(` `)` `,` or `..` must be quoted.
* Path members `observedAt`, `createdAt`, `modifiedAt`, `unitCode`, `datasetId`,
  `objectType` end a path and are not expanded; other dot segments are sub-attributes and
  are expanded; bracket keys are plain JSON keys.

Limits guard the server: nesting deeper than `MAX_DEPTH`, more than `MAX_TERMS` terms or
more than `MAX_VALUES` literal values raise `TooComplexQuery`; input longer than
`MAX_QUERY_LENGTH` characters too. Nothing recurses deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from cityos.ngsild.errors import InvalidRequest, TooComplexQuery
from cityos.ngsild.query.ast import (
    MEMBER_NAMES,
    ORDERING,
    Absence,
    And,
    AttrPath,
    AttrSelector,
    Comparison,
    DateTimeValue,
    Existence,
    Linked,
    Op,
    Or,
    QNode,
    QueryValue,
    Scalar,
    ScopeAnd,
    ScopeNode,
    ScopeOr,
    ScopePattern,
    TypeAnd,
    TypeName,
    TypeNode,
    TypeOr,
    ValueList,
    ValueRange,
)
from cityos.ngsild.query.lexer import (
    Tok,
    Token,
    check_length,
    check_name,
    classify_bare,
    split_attr_path,
    syntax_error,
    tokenize_q,
)

MAX_DEPTH = 64
MAX_TERMS = 256
MAX_VALUES = 1024
MAX_PATTERN_LENGTH = 1024
ENTITY_MEMBERS = frozenset({"id", "type", "scope"})
_LIST_ITEM = re.compile(r"\s*([^,|;{}\s]*)\s*")

Expand = Callable[[str], str]
N = TypeVar("N")


class _Cursor:
    def __init__(self, what: str, tokens: list[Token]) -> None:
        self.what = what
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.terms = 0
        self.values = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Tok.END:
            self.pos += 1
        return token

    def fail(self, token: Token, expected: str) -> InvalidRequest:
        found = "end of input" if token.kind is Tok.END else repr(token.text)
        return syntax_error(self.what, token.col, f"expected {expected}, found {found}")

    def count_term(self) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise TooComplexQuery(f"{self.what} has more than {MAX_TERMS} terms")

    def count_value(self) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise TooComplexQuery(f"{self.what} has more than {MAX_VALUES} values")


def _parse_boolean(cur: _Cursor, atom: Callable[[_Cursor], N],
                   make_and: Callable[[tuple[N, ...]], N],
                   make_or: Callable[[tuple[N, ...]], N]) -> N:
    """expr := conj ('|' conj)* ; conj := term (';' term)* ; term := '(' expr ')' | atom."""

    def term() -> N:
        token = cur.peek()
        if token.kind is not Tok.LPAREN:
            cur.count_term()
            return atom(cur)
        cur.take()
        cur.depth += 1
        if cur.depth > MAX_DEPTH:
            raise TooComplexQuery(f"{cur.what} nests parentheses deeper than {MAX_DEPTH}")
        inner = expr()
        closing = cur.take()
        if closing.kind is not Tok.RPAREN:
            raise cur.fail(closing, "')' or a logical operator")
        cur.depth -= 1
        return inner

    def conj() -> N:
        items = [term()]
        while cur.peek().kind is Tok.AND:
            cur.take()
            items.append(term())
        return items[0] if len(items) == 1 else make_and(tuple(items))

    def expr() -> N:
        items = [conj()]
        while cur.peek().kind is Tok.OR:
            cur.take()
            items.append(conj())
        return items[0] if len(items) == 1 else make_or(tuple(items))

    result = expr()
    last = cur.peek()
    if last.kind is not Tok.END:
        expected = "';', '|' or end of input" if cur.depth == 0 else "')'"
        raise cur.fail(last, expected)
    return result


# ---------------------------------------------------------------- q-language (4.9)

def parse_q(text: str, expand: Expand) -> QNode:
    """Parse a q expression; attribute and sub-attribute names are expanded with `expand`."""
    if not text.strip():
        raise InvalidRequest("invalid q: empty query")
    cur = _Cursor("q", tokenize_q(text))
    return _parse_boolean(cur, lambda c: _q_term(c, expand), And, Or)


def _q_term(cur: _Cursor, expand: Expand) -> QNode:
    if cur.peek().kind is Tok.NOT:
        return _absence(cur, expand)
    token = cur.take()
    if token.kind is not Tok.ATTR:
        raise cur.fail(token, "an attribute name or '('")
    chain, text = _linked_chain(token, expand)
    path = attr_path_of(text, expand, "q", token.col)
    node: QNode
    if cur.peek().kind is not Tok.OP:
        node = Existence(path)
    else:
        op = Op(cur.take().text)
        value = _q_value(cur, op)
        after = cur.peek()
        if after.kind not in (Tok.AND, Tok.OR, Tok.RPAREN, Tok.END):
            raise cur.fail(after, "';', '|', ')' or end of input after the value")
        node = Comparison(path, op, value)
    for relationship, hint in reversed(chain):
        node = Linked(relationship, hint, node)
    return node


def _absence(cur: _Cursor, expand: Expand) -> Absence:
    """`!path` (V1.9): the path resolves on no instance. Only a bare attribute path may
    be negated: a value test has `!=` / `!~=`, and Linked Entity terms are not negated."""
    bang = cur.take()
    token = cur.take()
    if token.kind is not Tok.ATTR:
        raise cur.fail(token, "an attribute name after '!'")
    if "{" in token.text:
        raise syntax_error("q", bang.col, "'!' cannot negate a Linked Entity query")
    after = cur.peek()
    if after.kind not in (Tok.AND, Tok.OR, Tok.RPAREN, Tok.END):
        raise syntax_error("q", bang.col, "'!' negates an attribute path alone; to "
                           "compare values use '!=' or '!~='")
    return Absence(attr_path_of(token.text, expand, "q", token.col))


_TYPE_HINT = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*):(?!//)(.+)")


def _linked_chain(token: Token, expand: Expand) -> tuple[list[tuple[str, str | None]], str]:
    """`rel{Type:rel2{attr}}` → ([(rel IRI, Type IRI), (rel2 IRI, None)], "attr"): each
    Relationship with the type hint of its target entities."""
    text = token.text
    chain: list[tuple[str, str | None]] = []
    while "{" in text:
        if not text.endswith("}"):
            raise syntax_error("q", token.col, "a Linked Entity query needs a closing '}'")
        relationship, inner = text.split("{", 1)
        inner = inner[:-1]
        if not relationship or not inner:
            raise syntax_error("q", token.col, "empty name in a Linked Entity query")
        hint: str | None = None
        head = inner.split("{", 1)[0]
        match = _TYPE_HINT.fullmatch(head)
        if match and expand(head) == head:  # not a compact IRI with a known prefix
            hint = check_name("q", expand(match.group(1)), token.col)
            inner = inner[len(match.group(1)) + 1:]
        chain.append((check_name("q", expand(relationship), token.col), hint))
        text = inner
        if len(chain) > MAX_DEPTH:
            raise TooComplexQuery(f"q nests Linked Entity queries deeper than {MAX_DEPTH}")
    return chain, text


def attr_path_of(text: str, expand: Expand, what: str = "q", col: int = 1) -> AttrPath:
    """An attribute path of clause 4.9 (`a`, `a.b`, `a.observedAt`, `a[k1.k2]`), also used
    by orderBy (clause 4.23)."""
    segments, keys = split_attr_path(text, col)
    for segment in segments:
        if set(segment) & set("{}*"):
            raise syntax_error(what, col, f"invalid attribute name {segment!r}")
    attr = check_name(what, expand(segments[0]), col)
    subs: list[str] = []
    member: str | None = None
    for segment in segments[1:]:
        if member is not None:
            raise syntax_error(what, col, f"nothing may follow the member {member!r}")
        if segment in MEMBER_NAMES:
            member = segment
        else:
            subs.append(check_name(what, expand(segment), col))
    if member is not None and keys:
        raise syntax_error(what, col, f"a key path cannot follow the member {member!r}")
    return AttrPath(attr, tuple(subs), member, tuple(keys))


def _q_value(cur: _Cursor, op: Op) -> QueryValue:
    first = cur.take()
    if first.kind is not Tok.VALUE:
        raise cur.fail(first, "a value")
    cur.count_value()
    if op in (Op.MATCH, Op.NOT_MATCH):
        return _pattern(first)
    kind, value = _literal(first, op)
    nxt = cur.peek()
    if nxt.kind in (Tok.DOTS, Tok.COMMA) and op not in (Op.EQ, Op.NE):
        raise cur.fail(nxt, "a single value: ranges and lists need '==' or '!='")
    if nxt.kind is Tok.DOTS:
        cur.take()
        second = cur.take()
        if second.kind is not Tok.VALUE:
            raise cur.fail(second, "the upper bound of the range")
        cur.count_value()
        high_kind, high = _literal(second, op)
        if kind != high_kind or kind == "bool":
            raise syntax_error("q", first.col, "range bounds must both be numbers, both "
                               "strings or both DateTimes")
        return ValueRange(value, high)
    if nxt.kind is Tok.COMMA:
        values = [value]
        while cur.peek().kind is Tok.COMMA:
            cur.take()
            item = cur.take()
            if item.kind is not Tok.VALUE:
                raise cur.fail(item, "a value after ','")
            cur.count_value()
            values.append(_literal(item, op)[1])
        return ValueList(tuple(values))
    return value


def _literal(token: Token, op: Op) -> tuple[str, Scalar]:
    """Returns (kind, value) with kind one of bool, number, string, datetime."""
    if token.quoted:
        return "string", token.text
    kind, value = classify_bare(token.text, token.col)
    if kind == "datetime":
        assert isinstance(value, str)
        return "datetime", DateTimeValue(value)
    if kind == "word" and op in ORDERING:
        raise syntax_error("q", token.col, f"expected a number, a quoted string or a "
                           f"DateTime/Date/Time after {op.value!r}, found {token.text!r}")
    if kind == "bool" and op in ORDERING:
        raise syntax_error("q", token.col, f"booleans cannot be ordered with {op.value!r}")
    return ("string" if kind in ("word", "date", "time") else kind), value


def _pattern(token: Token) -> str:
    if len(token.text) > MAX_PATTERN_LENGTH:
        raise TooComplexQuery(f"regular expression longer than {MAX_PATTERN_LENGTH} chars")
    try:
        re.compile(token.text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise syntax_error("q", token.col, f"invalid regular expression: {exc}") from None
    return token.text


# ---------------------------------------------------------------- scopeQ, types

def _tokenize_simple(what: str, text: str, or_chars: str) -> list[Token]:
    """Tokens of the scopeQ and type grammars: names between `; , | ( )`."""
    check_length(what, text)
    kinds = {";": Tok.AND, "(": Tok.LPAREN, ")": Tok.RPAREN} | dict.fromkeys(or_chars, Tok.OR)
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in kinds:
            tokens.append(Token(kinds[ch], ch, i + 1))
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in kinds and not text[j].isspace():
                j += 1
            tokens.append(Token(Tok.ATTR, text[i:j], i + 1))
            i = j
    tokens.append(Token(Tok.END, "", len(text) + 1))
    return tokens


def parse_scope_q(text: str) -> ScopeNode:
    """Parse a scopeQ (clause 4.19): `/a/b` exact, `/a/#` a and below, `+` one level,
    `;` AND, `,` or `|` OR, parentheses."""
    if not text.strip():
        raise InvalidRequest("invalid scopeQ: empty query")
    cur = _Cursor("scopeQ", _tokenize_simple("scopeQ", text, ",|"))
    return _parse_boolean(cur, _scope_term, ScopeAnd, ScopeOr)


def _scope_term(cur: _Cursor) -> ScopeNode:
    token = cur.take()
    if token.kind is not Tok.ATTR:
        raise cur.fail(token, "a scope starting with '/' or '('")
    text = token.text
    if not text.startswith("/"):
        raise syntax_error("scopeQ", token.col, f"a scope must start with '/', got {text!r}")
    if text == "/#":
        return ScopePattern((), descendants=True)
    levels = text[1:].split("/")
    descendants = levels[-1] == "#"
    if descendants:
        levels.pop()
    for level in levels:
        if not level:
            raise syntax_error("scopeQ", token.col, f"empty scope level in {text!r}")
        if level != "+" and (set(level) & set('#+"\\') or not level.isprintable()):
            raise syntax_error("scopeQ", token.col, f"invalid scope level {level!r}: '#' "
                               "may only end a scope and '+' must be a whole level")
    return ScopePattern(tuple(levels), descendants)


def parse_type_expression(text: str, expand: Expand) -> TypeNode:
    """Parse the `type` parameter (clause 4.17): `A,B` or `A|B` (either type), `A;B`
    (both types), parentheses. Each type name is expanded with `expand`."""
    if not text.strip():
        raise InvalidRequest("invalid type: empty type selection")
    cur = _Cursor("type", _tokenize_simple("type", text, ",|"))

    def atom(c: _Cursor) -> TypeNode:
        token = c.take()
        if token.kind is not Tok.ATTR:
            raise c.fail(token, "an entity type name or '('")
        check_name("type", token.text, token.col)
        return TypeName(check_name("type", expand(token.text), token.col))

    return _parse_boolean(cur, atom, TypeAnd, TypeOr)


# ---------------------------------------------------------------- attrs / pick / omit

def parse_attribute_list(text: str, expand: Expand) -> tuple[AttrSelector, ...]:
    """Parse an `attrs` / `pick` / `omit` list (clause 4.21): names separated by `,` or
    (V1.9 grammar) `|`. The entity members `id`, `type`, `scope` are kept as they are; other
    names are expanded. The V1.9 nested form `rel{b,c}` projects the Linked Entities of
    Relationship `rel` (with `join`). Duplicates are dropped."""
    check_length("attribute list", text)
    pos = 0

    def items(depth: int) -> tuple[AttrSelector, ...]:
        nonlocal pos
        if depth > MAX_DEPTH:
            raise TooComplexQuery(f"attribute list nests deeper than {MAX_DEPTH}")
        out: dict[str, AttrSelector] = {}
        while True:
            match = _LIST_ITEM.match(text, pos)
            assert match is not None  # the pattern matches the empty string
            name, col = match.group(1), pos + 1
            pos = match.end()
            if not name:
                found = repr(text[pos]) if pos < len(text) else "end of input"
                raise syntax_error("attribute list", col, f"expected a name, found {found}")
            check_name("attribute list", name, col)
            full = name if name in ENTITY_MEMBERS else expand(name)  # also in rel{id,…}
            nested: tuple[AttrSelector, ...] = ()
            if text.startswith("{", pos):
                pos += 1
                nested = items(depth + 1)
                if not text.startswith("}", pos):
                    raise syntax_error("attribute list", pos + 1, "expected '}'")
                pos += 1
                while pos < len(text) and text[pos].isspace():
                    pos += 1
            selector = AttrSelector(check_name("attribute list", full, col), nested)
            out.setdefault(selector.name, selector)
            if not text.startswith((",", "|"), pos):
                return tuple(out.values())
            pos += 1

    result = items(0)
    if pos != len(text):
        raise syntax_error("attribute list", pos + 1, f"unexpected {text[pos]!r}")
    return result
