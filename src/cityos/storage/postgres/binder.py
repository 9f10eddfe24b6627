"""Bound parameters for composed SQL: each value gets its own named placeholder, so that
fragments compose in any order and one value may appear several times in the text."""

from __future__ import annotations


class Binder:
    """Collects the parameters of one statement; `bind(value)` returns its placeholder."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def __call__(self, value: object, cast: str = "") -> str:
        """The placeholder of a new parameter holding `value`, with an optional `::type`
        cast (a fixed type name chosen by the compiler, never user input)."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s" + (f"::{cast}" if cast else "")
