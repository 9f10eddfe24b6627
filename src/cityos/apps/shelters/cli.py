"""`cityos import shelters FILE…`: shelter registers into the broker, with a progress bar
and every rejected row reported with its file and line number."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cityos.apps.shelters.importers import ImportReport, read_shelter_file
from cityos.config import Settings, load_settings

CATEGORIES = {"auto": None, "designated": "designatedShelter",
              "emergency": "emergencyEvacuationSite"}
CHUNK = 100


@click.command("import-shelters")
@click.option("--database", "database_url", default=None,
              help="sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL).")
@click.option("--category", type=click.Choice(list(CATEGORIES)), default="auto",
              help="What a CSV lists; auto: emergency evacuation sites when it has hazard "
                   "columns, designated shelters otherwise. GeoJSON says it itself.")
@click.option("--dry-run", is_flag=True, help="Check the files, store nothing.")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_shelters_command(database_url: str | None, category: str, dry_run: bool,
                            files: tuple[Path, ...]) -> None:
    """Import shelters from the 自治体標準オープンデータセット CSV (older or newer header
    style), the GSI 指定緊急避難場所 CSV or the GSI GeoJSON files (UTF-8 or Shift_JIS).
    A facility listed as both designated shelter and emergency site (same address) becomes
    one shelter. Staff-set status and counts of existing shelters are kept."""
    report = ImportReport()
    for file in files:
        report.extend(read_shelter_file(file.read_bytes(), file.name, CATEGORIES[category]))
    for note in report.notes:
        click.echo(note)
    for rejection in report.rejections:
        click.echo(f"rejected {rejection}", err=True)
    stored, failed = 0, list[tuple[str, str]]()
    if report.records and not dry_run:
        settings = load_settings({"database_url": database_url})
        stored, failed = asyncio.run(_store(settings, report))
    for entity_id, detail in failed:
        click.echo(f"not stored {entity_id}: {detail}", err=True)
    click.echo(f"{len(report.records)} rows read, {len(report.rejections)} rejected, "
               + ("nothing stored (dry run)" if dry_run else f"{stored} shelters stored"))
    if report.rejections or failed:
        raise SystemExit(1)


async def _store(settings: Settings, report: ImportReport) -> tuple[int, list[tuple[str, str]]]:
    from cityos.app import open_store
    from cityos.apps.shelters.importers.merge import merge_shelters
    from cityos.apps.shelters.model import CrowdingThresholds
    from cityos.apps.shelters.service import ShelterService
    from cityos.broker.entities import EntityService
    from cityos.broker.events import InProcessBus
    store = open_store(settings)
    await store.open()
    service = ShelterService(EntityService(store, InProcessBus()),
                             CrowdingThresholds.parse(settings.shelters_crowding_thresholds))
    stored, failed = 0, list[tuple[str, str]]()
    try:
        shelters = merge_shelters(record.shelter for record in report.records)
        with Progress(TextColumn("[bold]import"), BarColumn(), MofNCompleteColumn()) as bar:
            task = bar.add_task("import", total=len(shelters))
            for start in range(0, len(shelters), CHUNK):
                outcome = await service.import_shelters(shelters[start:start + CHUNK])
                stored += len(outcome.success)
                failed += [(entity_id, error.detail) for entity_id, error in outcome.errors]
                bar.advance(task, len(shelters[start:start + CHUNK]))
    finally:
        await store.close()
    return stored, failed
