"""`cityos twin …`: import inputs, run an evacuation scenario, compare two runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cityos.apps.twin.hazard_import import HazardImportError, import_hazard
from cityos.apps.twin.inputs import (
    load_inputs,
    save_hazard,
    save_population,
    save_roads,
    twin_data_dir,
)
from cityos.apps.twin.model import HAZARDS
from cityos.apps.twin.population_import import PopulationImportError, import_population
from cityos.apps.twin.report import SYNTHETIC_NOTE_EN
from cityos.apps.twin.roads_import import RoadImportError, import_roads
from cityos.apps.twin.runs import compare_reports, run_scenario, save_report, store_run
from cityos.apps.twin.scenario import (
    ScenarioError,
    ScenarioFile,
    load_scenario_file,
    parse_scenario,
)
from cityos.apps.twin.shelters import fetch_shelter_entities, packaged_kaga_shelters
from cityos.apps.twin.synthetic import kaga_towns
from cityos.config import Settings, load_settings

DATABASE_HELP = "sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL)."
console = Console()


def _settings(database_url: str | None) -> Settings:
    return load_settings({"database_url": database_url})


@click.group("twin")
def twin() -> None:
    """City digital twin: evacuation simulation on the road network."""


@twin.command("import-roads")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_roads_command(database_url: str | None, file: Path) -> None:
    """Import a road network (OSM XML .osm or GeoJSON road links)."""
    try:
        graph = import_roads(file)
    except RoadImportError as exc:
        raise click.ClickException(str(exc)) from None
    path = save_roads(twin_data_dir(_settings(database_url)), graph)
    click.echo(f"{graph.node_count} nodes, {graph.link_count} links -> {path}")
    for note in graph.notes:
        click.echo(f"  note: {note}")


@twin.command("import-population")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_population_command(database_url: str | None, file: Path) -> None:
    """Import population from an e-Stat CSV (500 m mesh or town level with age bands)."""
    towns = {name: (lon, lat) for name, lon, lat in kaga_towns()}
    try:
        population = import_population(file, towns)
    except PopulationImportError as exc:
        raise click.ClickException(str(exc)) from None
    path = save_population(twin_data_dir(_settings(database_url)), population)
    click.echo(f"{population.total:.0f} residents at {population.lon.size} places -> {path}")
    for note in population.notes:
        click.echo(f"  note: {note}")


@twin.command("import-hazard")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.option("--kind", type=click.Choice(["flood", "landslide"]), default="flood")
@click.option("--depth-property", default=None, help="Property holding depth or depth rank.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_hazard_command(database_url: str | None, kind: str, depth_property: str | None,
                          file: Path) -> None:
    """Import hazard zones (flood polygons with depth rank, or landslide zones; GeoJSON)."""
    try:
        hazards = import_hazard(file, kind, depth_property)
    except HazardImportError as exc:
        raise click.ClickException(str(exc)) from None
    path = save_hazard(twin_data_dir(_settings(database_url)), kind, hazards)
    click.echo(f"{len(hazards.zones)} {kind} zones -> {path}")
    for note in hazards.notes:
        click.echo(f"  note: {note}")


def _spec(scenario: Path | None, hazard: str | None) -> ScenarioFile:
    try:
        spec = load_scenario_file(scenario) if scenario else parse_scenario({})
    except (ScenarioError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if hazard:
        from dataclasses import replace
        spec = ScenarioFile(replace(spec.scenario, hazard=hazard), spec.policy, spec.seeds)
    return spec


async def _shelters(settings: Settings, tenant: str) -> list[Any]:
    from cityos.app import open_store
    from cityos.broker.entities import EntityService
    from cityos.broker.events import InProcessBus
    store = open_store(settings)
    await store.open()
    try:
        return await fetch_shelter_entities(EntityService(store, InProcessBus()), tenant)
    finally:
        await store.close()


async def _store(settings: Settings, tenant: str, report: dict[str, Any]) -> None:
    from cityos.app import open_store
    from cityos.broker.entities import EntityService
    from cityos.broker.events import InProcessBus
    store = open_store(settings)
    await store.open()
    try:
        await store_run(EntityService(store, InProcessBus()), twin_data_dir(settings), report,
                        tenant)
    finally:
        await store.close()


@twin.command("evacuate")
@click.option("--hazard", type=click.Choice(HAZARDS), default=None,
              help="Hazard (overrides the scenario's).")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Scenario file (TOML or JSON; docs/twin.md).")
@click.option("--seed", "seeds", type=int, multiple=True, help="Seed; repeat for a band.")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.option("--tenant", default="", help="NGSILD-Tenant of the shelters and the run.")
@click.option("--packaged-shelters", is_flag=True,
              help="Use the GSI shelter list shipped with cityos instead of the broker.")
@click.option("--store/--no-store", default=True, help="Store the run as a SimulationRun.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the full report (JSON) here.")
def evacuate(hazard: str | None, scenario: Path | None, seeds: tuple[int, ...],
             database_url: str | None, tenant: str, packaged_shelters: bool, store: bool,
             output: Path | None) -> None:
    """Simulate an evacuation and print a summary table."""
    settings = _settings(database_url)
    spec = _spec(scenario, hazard)
    entities = packaged_kaga_shelters() if packaged_shelters else asyncio.run(
        _shelters(settings, tenant))
    if not entities:
        console.print("[yellow]no EvacuationShelter entities in the broker: every resident "
                      "will be reported without a shelter (load shelters, e.g. `cityos serve "
                      "--demo`, or pass --packaged-shelters)[/]")
    inputs = load_inputs(twin_data_dir(settings), spec.scenario.hazard)
    chosen = seeds or spec.seeds
    with Progress(TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(),
                  console=console) as progress:
        task = progress.add_task("run", total=len(chosen))
        report = run_scenario(inputs, entities, spec, chosen,
                              lambda n: progress.advance(task, n))
    if store:
        asyncio.run(_store(settings, tenant, report))
    if output:
        output.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    print_summary(report)
    console.print(f"stored as {report['id']}" if store else "not stored (--no-store)")


def print_summary(report: dict[str, Any]) -> None:
    s = report["summary"]
    if report["synthetic"]:
        console.print(f"[bold yellow]SYNTHETIC: {SYNTHETIC_NOTE_EN}[/]")
    table = Table(title=f"{report['scenario']['name']} ({report['scenario']['hazard']}), "
                        f"seeds {report['seeds']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    share = f"{s['evacuatedShare']:.1%}"
    if s["evacuatedShareLow"] != s["evacuatedShareHigh"]:
        share += f" ({s['evacuatedShareLow']:.1%}–{s['evacuatedShareHigh']:.1%})"
    for label, value in (("residents", s["residents"]), ("evacuated", s["evacuated"]),
                         ("evacuated share", share),
                         (f"evacuated by minute {s['horizonMinutes']:.0f}",
                          f"{s['evacuatedShareByHorizon']:.1%}"),
                         ("mean time (min)", s["meanMinutes"]),
                         ("95th percentile (min)", s["p95Minutes"]),
                         ("no reachable shelter", s["unreachable"]),
                         ("every reachable shelter full", s["stranded"]),
                         ("outside the road graph", s["outsideRoadGraph"]),
                         ("not departed within horizon", s["notDeparted"]),
                         ("usable / full shelters", f"{s['sheltersUsable']} / {s['sheltersFull']}"),
                         ("closed links", s["closedLinks"]), ("run time (s)", s["seconds"])):
        table.add_row(label, "–" if value is None else str(value))
    console.print(table)
    for note in report["notes"]:
        console.print(f"  note: {note}")


@twin.command("compare")
@click.argument("first", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("second", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1)
@click.option("--packaged-shelters", is_flag=True, help="As for evacuate.")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.option("--tenant", default="")
def compare(first: Path, second: Path, seed: int, packaged_shelters: bool,
            database_url: str | None, tenant: str) -> None:
    """Run two scenario files with the same seed and show B against A."""
    settings = _settings(database_url)
    entities = packaged_kaga_shelters() if packaged_shelters else asyncio.run(
        _shelters(settings, tenant))
    reports = []
    for path in (first, second):
        spec = _spec(path, None)
        reports.append(run_scenario(load_inputs(twin_data_dir(settings), spec.scenario.hazard),
                                    entities, spec, (seed,)))
        save_report(twin_data_dir(settings), reports[-1])
    result = compare_reports(reports[0], reports[1])
    if result["synthetic"]:
        console.print(f"[bold yellow]SYNTHETIC: {SYNTHETIC_NOTE_EN}[/]")
    table = Table(title=f"A = {result['a']}, B = {result['b']}")
    for column in ("figure", "A", "B", "B − A"):
        table.add_column(column, justify="right")
    for key, row in result["summary"].items():
        table.add_row(key, *("–" if row[k] is None else str(row[k])
                             for k in ("a", "b", "change")))
    console.print(table)
