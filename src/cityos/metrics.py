"""Prometheus counters that any part of the platform can increment (served on /metrics).

Counters are named `cityos_<what>_total` and carry a few low-cardinality labels; a counter
is declared by its first increment, with the help text given there."""

from __future__ import annotations

from collections import Counter


def _label_text(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Counters:
    """Monotonic counters by name and label set."""

    def __init__(self) -> None:
        self._help: dict[str, str] = {}
        self._values: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def inc(self, name: str, help_text: str, amount: int = 1, **labels: str) -> None:
        self._help.setdefault(name, help_text)
        self._values[(name, tuple(sorted(labels.items())))] += amount

    def value(self, name: str, **labels: str) -> int:
        return self._values[(name, tuple(sorted(labels.items())))]

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._help):
            lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
            for (counter, labels), n in sorted(self._values.items()):
                if counter == name:
                    lines.append(f"{name}{_label_text(labels)} {n}")
        return "\n".join(lines) + "\n" if lines else ""
