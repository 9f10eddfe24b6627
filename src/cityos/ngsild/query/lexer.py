"""Tokenizer of the NGSI-LD q-language (ETSI GS CIM 009 V1.8.1 clause 4.9) and the
classification of unquoted literals shared by the query parsers.

The q grammar is context sensitive: an attribute name may hold `:` `/` `.` `#` (IRIs) and
a value may hold `:` `/` `.` (URIs, DateTimes), so the tokenizer switches between an
"attribute" mode and a "value" mode after each comparison operator. Percent-decoding has
already been done by the HTTP layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from cityos.ngsild.errors import InvalidRequest, TooComplexQuery

MAX_QUERY_LENGTH = 16_384
# Characters that end an attribute name in a q term (operators, logical operators, grouping).
_ATTR_STOP = frozenset('=!<>~;|(),"')
# Characters that end an unquoted value; `..` (range) is checked separately.
_VALUE_STOP = frozenset(';|(),"')
_OPERATORS = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t"}

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?Z?")
_INT64 = 2**63


class Tok(Enum):
    LPAREN = "("
    RPAREN = ")"
    AND = ";"
    OR = "|"
    COMMA = ","
    DOTS = ".."
    NOT = "!"
    ATTR = "attribute"
    OP = "operator"
    VALUE = "value"
    END = "end of input"


@dataclass(frozen=True)
class Token:
    kind: Tok
    text: str
    col: int  # 1-based column of the first character, for error messages
    quoted: bool = False


def syntax_error(what: str, col: int, message: str) -> InvalidRequest:
    return InvalidRequest(f"invalid {what} at column {col}: {message}")


def check_length(what: str, text: str, limit: int = MAX_QUERY_LENGTH) -> None:
    if len(text) > limit:
        raise TooComplexQuery(f"{what} is {len(text)} characters long; the limit is {limit}")


def read_quoted(text: str, start: int, what: str) -> tuple[str, int]:
    """Read the JSON-style string literal whose opening quote is at `start`; return the
    decoded string and the index after the closing quote."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt and nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            hex4 = text[i + 2:i + 6]
            if nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", hex4):
                out.append(chr(int(hex4, 16)))
                i += 6
                continue
            raise syntax_error(what, i + 1, "invalid escape sequence in quoted string")
        out.append(ch)
        i += 1
    raise syntax_error(what, start + 1, "unterminated quoted string")


def tokenize_q(text: str) -> list[Token]:
    """Split a q expression into tokens (clause 4.9 grammar)."""
    check_length("q", text)
    tokens: list[Token] = []
    i, n = 0, len(text)
    value_mode = False
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            tokens.append(Token(Tok.END, "", n + 1))
            return tokens
        ch, col = text[i], i + 1
        if ch in ";|)":
            kind = {";": Tok.AND, "|": Tok.OR, ")": Tok.RPAREN}[ch]
            tokens.append(Token(kind, ch, col))
            value_mode = False
            i += 1
        elif value_mode:
            i = _lex_value(text, i, tokens)
        elif ch == "(":
            tokens.append(Token(Tok.LPAREN, ch, col))
            i += 1
        elif ch == "!" and _starts_term(tokens) and not text.startswith(("!=", "!~="), i):
            tokens.append(Token(Tok.NOT, ch, col))  # V1.9 negated existence `!attr`
            i += 1
        elif ch in "=!<>~":
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise syntax_error("q", col, "expected one of the operators "
                                   "== != > >= < <= ~= !~=")
            tokens.append(Token(Tok.OP, op, col))
            value_mode = True
            i += len(op)
        elif ch in _ATTR_STOP:
            raise syntax_error("q", col, f"unexpected {ch!r}; expected an attribute name")
        else:
            j = i
            while j < n and text[j] not in _ATTR_STOP and not text[j].isspace():
                j += 1
            tokens.append(Token(Tok.ATTR, text[i:j], col))
            i = j


def _starts_term(tokens: list[Token]) -> bool:
    """Is the next token the start of a term (after nothing, `(`, `;` or `|`)?"""
    return not tokens or tokens[-1].kind in (Tok.LPAREN, Tok.AND, Tok.OR)


def _lex_value(text: str, i: int, tokens: list[Token]) -> int:
    ch, col = text[i], i + 1
    if ch == '"':
        decoded, end = read_quoted(text, i, "q")
        tokens.append(Token(Tok.VALUE, decoded, col, quoted=True))
        return end
    if ch == ",":
        tokens.append(Token(Tok.COMMA, ch, col))
        return i + 1
    if text.startswith("..", i):
        tokens.append(Token(Tok.DOTS, "..", col))
        return i + 2
    if ch == "(":
        raise syntax_error("q", col, "unexpected '(' in a value; quote values that hold "
                           "parentheses")
    j = i
    while (j < len(text) and text[j] not in _VALUE_STOP and not text[j].isspace()
           and not text.startswith("..", j)):
        j += 1
    tokens.append(Token(Tok.VALUE, text[i:j], col))
    return j


def canonical_datetime(moment: datetime) -> str:
    """The canonical stored form of a DateTime: UTC, microseconds, trailing `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def classify_bare(text: str, col: int) -> tuple[str, bool | int | float | str]:
    """Classify an unquoted literal of clause 4.9: returns (kind, value) with kind one of
    `bool`, `number`, `datetime` (value: canonical string), `date`, `time`, `word`."""
    if text in ("true", "false"):
        return "bool", text == "true"
    if text == "null":
        raise syntax_error("q", col, "null is not a valid query value")
    if _NUMBER.fullmatch(text):
        return "number", _number(text, col)
    if _DATETIME.fullmatch(text):
        try:
            moment = datetime.fromisoformat(_trim_fraction(text))
        except ValueError:
            raise syntax_error("q", col, f"invalid DateTime {text!r}") from None
        if moment.tzinfo is None:  # clause 4.6.3: a DateTime without offset is UTC
            moment = moment.replace(tzinfo=UTC)
        return "datetime", canonical_datetime(moment)
    if _DATE.fullmatch(text):
        try:
            datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            raise syntax_error("q", col, f"invalid Date {text!r}") from None
        return "date", text
    if _TIME.fullmatch(text):
        return "time", text
    return "word", text


def _trim_fraction(text: str) -> str:
    """`datetime.fromisoformat` takes at most 6 fractional digits; extra ones are cut
    (truncation, as the canonical form has microsecond precision)."""
    return re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", text)


def _number(text: str, col: int) -> int | float:
    if re.fullmatch(r"-?[0-9]+", text):
        value = int(text)
        if -_INT64 <= value < _INT64:
            return value
        raise syntax_error("q", col, f"integer {text} is out of the 64-bit range")
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise syntax_error("q", col, f"number {text} is out of range")
    return number


_SCHEME_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# Characters that would break out of a quoted JSON-path label in SQLite, or are never valid
# in a name (clause 4.6.2 forbids quotes, whitespace and control characters).
_UNSAFE_NAME = re.compile(r'[\x00-\x20"\\\[\]\x7f]')


def check_name(what: str, name: str, col: int) -> str:
    if not name:
        raise syntax_error(what, col, "empty name")
    bad = _UNSAFE_NAME.search(name)
    if bad:
        raise syntax_error(what, col, f"character {bad.group()!r} is not allowed in {name!r}")
    return name


def split_attr_path(text: str, col: int) -> tuple[list[str], list[str]]:
    """Split the attribute part of a q term into its dot-separated segments and the key path
    given in square brackets (clause 4.9 attrPathName / compoundAttrName):
    `a.b[k1.k2]` -> (["a", "b"], ["k1", "k2"]); `a[k1][k2]` -> (["a"], ["k1", "k2"])."""
    bracket = text.find("[")
    name_part = text if bracket < 0 else text[:bracket]
    keys: list[str] = []
    if bracket >= 0:
        rest, pos = text[bracket:], col + bracket
        while rest:
            close = rest.find("]")
            if not rest.startswith("[") or close < 0:
                raise syntax_error("q", pos, "expected '[key]' after the attribute name")
            for key in rest[1:close].split("."):
                keys.append(check_name("q", key, pos + 1))
            pos += close + 1
            rest = rest[close + 1:]
    if not name_part:
        raise syntax_error("q", col, "expected an attribute name")
    return [check_name("q", seg, col) for seg in _split_dots(name_part)], keys


def _split_dots(text: str) -> list[str]:
    """Dots separate path segments, except inside absolute IRIs: the authority of
    `scheme://host` is never split, and a later dot only splits when what follows it is a
    new absolute IRI or a plain segment without `/` or `#` (so `http://ex.org/v1.2/speed`
    stays whole while `http://ex.org/speed.observedAt` splits). Compact IRIs and terms
    (`ex:speed.observedAt`) split at every dot: clause 4.9 only allows dots in names
    inside IRIs."""
    segments: list[str] = []
    start = 0
    while True:
        scan = start
        absolute = _SCHEME_AUTHORITY.match(text, start)
        if absolute:
            scan = absolute.end()
            # the authority (host name) may contain dots: skip to the first path character
            while scan < len(text) and text[scan] not in "/?#":
                scan += 1
        cut = _separator(text, scan, bool(absolute))
        if cut < 0:
            segments.append(text[start:])
            return segments
        segments.append(text[start:cut])
        start = cut + 1


def _separator(text: str, scan: int, absolute: bool) -> int:
    dot = text.find(".", scan)
    while dot >= 0 and absolute:
        after = text[dot + 1:]
        nxt = after.split(".", 1)[0]
        if _SCHEME_AUTHORITY.match(after) or not any(c in nxt for c in "/#"):
            return dot
        dot = text.find(".", dot + 1)
    return dot
