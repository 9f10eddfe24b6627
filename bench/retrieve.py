"""Scenario 2: retrieve by id, GET /ngsi-ld/v1/entities/{id} over 1,000 entities,
32 connections (wrk).

Run: python -m bench.retrieve
"""

from __future__ import annotations

from typing import Any

from bench import common
from bench._wrk_scenario import run

TARGET_RPS = 8000.0


def measure() -> dict[str, Any]:
    return run("retrieve", "retrieve.lua", TARGET_RPS,
               f"{common.API}/entities/{common.entity_id(0)}")


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
