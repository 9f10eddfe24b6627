"""A write job's rows are gathered and written per table (cityos.storage.sqlite.entity_writes):
the database after one job of many mutations must hold exactly what one job per mutation
leaves — entities, type rows, value-index rows, geo and R*Tree rows, the temporal history
and the change journal — including when an entity comes back in the same job (changed
twice, deleted and created again) and when some mutators fail."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.types import JsonObject
from cityos.storage.base import Mutator
from cityos.storage.sqlite.delivery_log import SqliteDeliveryLog
from cityos.storage.sqlite.mutations import JOIN_LIMIT, MutationJob
from cityos.storage.sqlite.store import SqliteStore
from cityos.storage.sqlite.temporal import SqliteTemporalStore
from cityos.storage.sqlite.writer import _runs

BASE = "https://example.org/"
AT = "2026-11-26T01:02:03.000004Z"
IDS = [f"urn:ngsi-ld:Thing:{n}" for n in range(12)]


def _instance(value: Any, **extra: Any) -> JsonObject:
    return {"type": "Property", "value": value, "createdAt": AT, "modifiedAt": AT, **extra}


def _point(rnd: random.Random) -> JsonObject:
    return {"type": "GeoProperty", "createdAt": AT, "modifiedAt": AT,
            "value": {"type": "Point", "coordinates": [round(rnd.uniform(136, 137), 5),
                                                       round(rnd.uniform(36, 37), 5)]}}


def _random_entity(rnd: random.Random, entity_id: str, step: int) -> JsonObject:
    attrs: dict[str, list[JsonObject]] = {
        BASE + "count": [_instance(rnd.choice([step, step + 0.5, "x", True]))]}
    if rnd.random() < 0.4:
        attrs[BASE + "count"].append(_instance(rnd.randint(0, 9), datasetId="urn:d:2"))
    if rnd.random() < 0.6:
        attrs[BASE + "location"] = [_point(rnd)]
    if rnd.random() < 0.5:
        attrs[BASE + "name"] = [_instance(rnd.choice(["a", "b"]))]
    types = [BASE + rnd.choice(["Sensor", "Meter"])]
    if rnd.random() < 0.3:
        types.append(BASE + "Device")
    return {"id": entity_id, "type": types, "createdAt": AT, "modifiedAt": AT,
            "attrs": attrs}


def _mutator(rnd: random.Random, entity_id: str, step: int) -> Mutator:
    choice = rnd.random()
    if choice < 0.15:
        return lambda old: None  # delete (nothing when absent)
    if choice < 0.25:
        def refuse(old: JsonObject | None) -> JsonObject:
            raise BadRequestData("refused")
        return refuse
    entity = _random_entity(rnd, entity_id, step)
    if choice < 0.4:  # change one attribute of what is there, keep the rest
        def touch(old: JsonObject | None) -> JsonObject:
            if old is None:
                return entity
            return {**old, "attrs": {**old["attrs"], BASE + "count": [_instance(step)]}}
        return touch
    return lambda old: entity


def _jobs(seed: int) -> list[list[tuple[str, Mutator]]]:
    rnd = random.Random(seed)
    jobs = []
    for step in range(6):
        ids = [rnd.choice(IDS) for _ in range(rnd.randint(1, 20))]  # repeats on purpose
        jobs.append([(i, _mutator(rnd, i, step * 100 + n)) for n, i in enumerate(ids)])
    return jobs


_SNAPSHOT = {
    "entities": "SELECT tenant, id, doc, created_at, modified_at FROM entities",
    "types": "SELECT e.id, t.tenant, t.type FROM entity_types t JOIN entities e USING (pk)",
    "values": "SELECT e.id, v.attr, v.num, v.txt FROM attr_values v JOIN entities e USING (pk)",
    "stale values": "SELECT pk FROM attr_values WHERE pk NOT IN (SELECT pk FROM entities)",
    "geo": "SELECT e.id, g.attr, g.geometry, r.min_x, r.max_x, r.min_y, r.max_y "
           "FROM geo_index g JOIN entities e USING (pk) JOIN geo_rtree r USING (gid)",
    "geo without box": "SELECT gid FROM geo_index WHERE gid NOT IN (SELECT gid FROM geo_rtree)",
    "box without geo": "SELECT gid FROM geo_rtree WHERE gid NOT IN (SELECT gid FROM geo_index)",
    "stale types": "SELECT pk FROM entity_types WHERE pk NOT IN (SELECT pk FROM entities)",
    "history": "SELECT t.id, a.iri, i.observed, i.dataset, i.num, i.doc, "
               "i.deleted IS NULL FROM temporal_instances i JOIN temporal_entities t "
               "USING (ek) JOIN temporal_attributes a USING (ak)",
    "history entities": "SELECT tenant, id, types FROM temporal_entities",
    "series": "SELECT t.id, a.iri, s.dataset FROM temporal_series s JOIN temporal_entities t "
              "USING (ek) JOIN temporal_attributes a USING (ak)",
    "journal": "SELECT tenant, entity_id, before, after FROM change_journal ORDER BY seq",
}


def _snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {name: sorted(conn.execute(sql).fetchall(), key=repr)
                if name != "journal" else conn.execute(sql).fetchall()
                for name, sql in _SNAPSHOT.items()}
    finally:
        conn.close()


async def _run(path: Path, jobs: list[list[tuple[str, Mutator]]], *,
               one_by_one: bool, concurrently: bool = False) -> list[tuple[str, bool]]:
    """Apply the jobs: each as one store.apply, or each mutation as its own — one after
    the other, or all of a job's submitted at once (they wait together and the writer
    runs them as one, see mutations.MutationJob)."""
    store = SqliteStore(str(path))
    SqliteTemporalStore(store)
    log = SqliteDeliveryLog(store)
    await store.open()
    log.set_journal_active(True)
    outcomes = []
    try:
        for job in jobs:
            if concurrently:
                for results in await asyncio.gather(*(store.apply("", [m]) for m in job)):
                    outcomes += [(r.entity_id, r.ok) for r in results]
            elif one_by_one:
                for mutation in job:
                    outcomes += [(r.entity_id, r.ok) for r in await store.apply("", [mutation])]
            else:
                outcomes += [(r.entity_id, r.ok) for r in await store.apply("", job)]
    finally:
        await store.close()
    return outcomes


@pytest.mark.parametrize("seed", range(8))
async def test_one_job_writes_what_one_job_per_entity_writes(tmp_path: Path,
                                                            seed: int) -> None:
    together = await _run(tmp_path / "together.db", _jobs(seed), one_by_one=False)
    alone = await _run(tmp_path / "alone.db", _jobs(seed), one_by_one=True)
    assert together == alone
    expected = _snapshot(tmp_path / "alone.db")
    assert expected["entities"] and expected["history"]  # the scenario wrote something
    assert _snapshot(tmp_path / "together.db") == expected


@pytest.mark.parametrize("seed", range(4))
async def test_jobs_waiting_together_write_what_they_write_one_by_one(tmp_path: Path,
                                                                     seed: int) -> None:
    """Single-entity jobs submitted at once run as one apply_mutations on the writer:
    same results per job, same rows, history and journal as one after the other."""
    together = await _run(tmp_path / "together.db", _jobs(seed), one_by_one=True,
                          concurrently=True)
    alone = await _run(tmp_path / "alone.db", _jobs(seed), one_by_one=True)
    assert together == alone
    assert _snapshot(tmp_path / "together.db") == _snapshot(tmp_path / "alone.db")


def test_writer_runs_only_consecutive_jobs_of_one_tenant_and_observers_together() -> None:
    observers: list[Any] = []
    a1, a2, a3 = (MutationJob("a", [], observers) for _ in range(3))
    b, other_observers = MutationJob("b", [], observers), MutationJob("a", [], [])
    plain = lambda conn: None  # noqa: E731  (any other job)
    assert _runs([a1, a2, b, a3, plain, a1, other_observers]) == \
        [[a1, a2], [b], [a3], [plain], [a1], [other_observers]]
    big, small = (MutationJob("a", [("urn:x:1", lambda old: old)] * n, observers)
                  for n in (JOIN_LIMIT - 1, 2))
    assert _runs([big, a1, small, a2]) == [[big, a1], [small, a2]]  # at most JOIN_LIMIT


async def test_an_unexpected_failure_in_jobs_run_together_spares_the_others(
        tmp_path: Path) -> None:
    """A mutator raising something unexpected rolls the group back; the writer runs each
    job again alone, so only that job fails."""
    store = SqliteStore(str(tmp_path / "fail.db"))
    await store.open()
    entity = _random_entity(random.Random(3), IDS[0], 1)

    def broken(old: JsonObject | None) -> JsonObject:
        raise RuntimeError("unexpected")
    try:
        outcomes = await asyncio.gather(
            *(store.apply("", [(i, (lambda old, i=i: {**entity, "id": i}))]) for i in IDS[:5]),
            store.apply("", [(IDS[5], broken)]),
            *(store.apply("", [(i, (lambda old, i=i: {**entity, "id": i}))]) for i in IDS[6:9]),
            return_exceptions=True)
        assert [isinstance(o, RuntimeError) for o in outcomes] == [False] * 5 + [True] + [False] * 3
        for i in [*IDS[:5], *IDS[6:9]]:
            assert (await store.get_entity("", i)) is not None
        assert await store.get_entity("", IDS[5]) is None
    finally:
        await store.close()


async def test_created_twice_in_one_job_is_one_entity(tmp_path: Path) -> None:
    rnd = random.Random(1)
    first, second = (_random_entity(rnd, IDS[0], n) for n in (1, 2))
    jobs: list[list[tuple[str, Mutator]]] = [[(IDS[0], lambda old: first),
                                              (IDS[0], lambda old: None),
                                              (IDS[0], lambda old: second)]]
    await _run(tmp_path / "t.db", jobs, one_by_one=False)
    snapshot = _snapshot(tmp_path / "t.db")
    assert [row[1] for row in snapshot["entities"]] == [IDS[0]]
    assert snapshot["stale values"] == snapshot["stale types"] == []
    assert snapshot["geo without box"] == snapshot["box without geo"] == []
    assert len(snapshot["journal"]) == 3
