"""Scenario 1: single-entity partial update, PATCH /ngsi-ld/v1/entities/{id}/attrs with
`{"count": {"type": "Property", "value": N}}` over 1,000 entities, 32 connections (wrk).

Run: python -m bench.patch_update
"""

from __future__ import annotations

from typing import Any

from bench import common
from bench._wrk_scenario import run

TARGET_RPS = 4000.0


def measure() -> dict[str, Any]:
    return run("patch_update", "patch.lua", TARGET_RPS,
               f"{common.API}/entities/{common.entity_id(0)}/attrs")


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
