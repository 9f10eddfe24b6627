"""Decoding a CSV file whose encoding nobody declared: UTF-8 (with or without BOM) or
Shift_JIS (CP932, as Excel in Japan writes). A UTF-8 file with a few lines in another
encoding keeps its good lines; the others are reported by line number."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    bad_lines: frozenset[int]  # 1-based physical lines that are not valid in `encoding`


def decode_csv_bytes(data: bytes) -> DecodedText:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return DecodedText(data.decode("utf-8"), "UTF-8", frozenset())
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    non_ascii = [line for line in lines if not line.isascii()]
    utf8_ok = sum(1 for line in non_ascii if _is_utf8(line))
    if utf8_ok * 2 > len(non_ascii):
        bad = frozenset(n for n, line in enumerate(lines, 1) if not _is_utf8(line))
        text = "\n".join(line.decode("utf-8", errors="replace") for line in lines)
        return DecodedText(text, "UTF-8", bad)
    try:
        return DecodedText(data.decode("cp932"), "Shift_JIS (CP932)", frozenset())
    except UnicodeDecodeError:
        bad = frozenset(n for n, line in enumerate(lines, 1) if not _is_cp932(line))
        text = "\n".join(line.decode("cp932", errors="replace") for line in lines)
        return DecodedText(text, "Shift_JIS (CP932)", bad)


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_cp932(line: bytes) -> bool:
    try:
        line.decode("cp932")
    except UnicodeDecodeError:
        return False
    return True
