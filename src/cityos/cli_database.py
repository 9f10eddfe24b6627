"""`cityos db migrate`, `cityos export` and `cityos import`: database work from the
command line, with a progress bar for the long parts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cityos.config import Settings, load_settings

DATABASE_HELP = "sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL)."
TENANT_HELP = "NGSILD-Tenant; the default tenant when omitted."


def _settings(database_url: str | None) -> Settings:
    return load_settings({"database_url": database_url})


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("migrate")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
def migrate_command(database_url: str | None) -> None:
    """Create or upgrade the database schema (also done at every start)."""
    settings = _settings(database_url)
    if settings.postgres_url is not None:
        from cityos.storage.postgres.migrate import available_migrations, migrate_database
        applied = asyncio.run(migrate_database(settings.postgres_url))
        names = {m.version: f"{m.version:04d}_{m.name}" for m in available_migrations()}
        for version in applied:
            click.echo(f"applied {names[version]}")
        click.echo("schema is up to date" if not applied else f"{len(applied)} applied")
        return
    asyncio.run(_open_and_close(settings))
    click.echo("schema is up to date")


async def _open_and_close(settings: Settings) -> None:
    from cityos.app import open_store
    store = open_store(settings)
    await store.open()
    await store.close()


def _progress(*columns: ProgressColumn) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), *columns,
                    TimeElapsedColumn(), TimeRemainingColumn())


@click.command("export")
@click.option("--tenant", default="", help=TENANT_HELP)
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_command(tenant: str, database_url: str | None, file: Path) -> None:
    """Write every entity of a tenant to FILE as NGSI-LD JSON lines."""
    count = asyncio.run(_export(_settings(database_url), tenant, file))
    click.echo(f"exported {count} entities of tenant {tenant!r} to {file}")


async def _export(settings: Settings, tenant: str, file: Path) -> int:
    from cityos.app import open_store
    from cityos.broker.transfer import count_entities, export_tenant
    from cityos.security import wiring
    # personal attributes leave opened (and are sealed again by `cityos import`)
    store = wiring.field_encryption(settings, open_store(settings), wiring.key_ring(settings))
    await store.open()
    try:
        total = await count_entities(store, tenant)
        with file.open("wb") as out, _progress(MofNCompleteColumn()) as progress:
            task = progress.add_task("export", total=total)
            return await export_tenant(store, tenant, out.write,
                                       lambda n: progress.advance(task, n))
    finally:
        await store.close()


class ImportGroup(click.Group):
    """`cityos import FILE` stores NGSI-LD JSON lines (the `entities` subcommand);
    `cityos import KIND FILE` runs an importer of a plugin (its command `import-KIND`,
    e.g. `cityos import shelters FILE`)."""

    def _plugin_importers(self) -> dict[str, click.Command]:
        from cityos.plugins import installed_plugins
        return {(command.name or "").removeprefix("import-"): command
                for plugin in installed_plugins() for command in plugin.commands()
                if (command.name or "").startswith("import-")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_importers()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugin_importers().get(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else ""
        if first and first not in ("--help", "-h") and self.get_command(ctx, first) is None:
            args = ["entities", *args]
        return super().parse_args(ctx, args)


@click.group("import", cls=ImportGroup)
def import_group() -> None:
    """Import data: `cityos import FILE` (NGSI-LD JSON lines, as written by `cityos
    export`) or `cityos import KIND FILE…` (e.g. `cityos import shelters FILE`)."""


@import_group.command("entities")
@click.option("--tenant", default="", help=TENANT_HELP)
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(tenant: str, database_url: str | None, file: Path) -> None:
    """Store the entities of FILE (NGSI-LD JSON lines, as written by `cityos export`) in a
    tenant, replacing entities with the same id."""
    stored, failures = asyncio.run(_import(_settings(database_url), tenant, file))
    for entity_id, detail in failures[:20]:
        click.echo(f"  {entity_id}: {detail}", err=True)
    click.echo(f"imported {stored} entities into tenant {tenant!r}"
               + (f"; {len(failures)} refused" if failures else ""))
    if failures:
        raise SystemExit(1)


def _lines(file: Path) -> Iterator[bytes]:
    with file.open("rb") as source:
        yield from source


async def _import(settings: Settings, tenant: str,
                  file: Path) -> tuple[int, list[tuple[str, str]]]:
    from cityos.app import open_store
    from cityos.broker.transfer import import_lines
    from cityos.security import wiring
    store = wiring.field_encryption(settings, open_store(settings), wiring.key_ring(settings))
    await store.open()
    stored, failures = 0, []
    try:
        with _progress(DownloadColumn()) as progress:
            task = progress.add_task("import", total=file.stat().st_size)
            async for result in import_lines(store, tenant, _lines(file),
                                             lambda n: progress.advance(task, n)):
                if result.error is None:
                    stored += 1
                else:
                    failures.append((result.entity_id, result.error.detail))
    finally:
        await store.close()
    return stored, failures
