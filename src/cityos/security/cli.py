"""`cityos audit …` (verify, export, checkpoint) and `cityos keys …` (generate, rotate,
public-key): security work from the command line, against the configured database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from cityos.config import Settings, load_settings
from cityos.metrics import Counters
from cityos.security.audit import AuditTrail
from cityos.security.keys import KeyFileError, generate_key_ring, load_key_ring, write_key_ring
from cityos.security.wiring import audit_trail

T = TypeVar("T")
DATABASE_HELP = "sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL)."
KEY_FILE_HELP = "The key file (CITYOS_KEY_FILE)."


def _settings(database_url: str | None, key_file: str | None = None) -> Settings:
    return load_settings({"database_url": database_url, "key_file": key_file, "audit": True})


@asynccontextmanager
async def open_trail(settings: Settings) -> AsyncIterator[AuditTrail]:
    from cityos.app import open_store
    keys = load_key_ring(settings.key_file) if settings.key_file else None
    store = open_store(settings)
    trail = audit_trail(settings, store, Counters(), keys)
    await store.open()
    try:
        yield trail
    finally:
        await store.close()


def _run(settings: Settings, work: Callable[[AuditTrail], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_trail(settings) as trail:
            return await work(trail)
    try:
        return asyncio.run(main())
    except KeyFileError as error:
        raise click.ClickException(str(error)) from error


@click.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.option("--key-file", default=None, help=KEY_FILE_HELP)
@click.option("--checkpoint", "checkpoint_files", multiple=True, type=click.Path(exists=True),
              help="A checkpoint exported earlier (JSON) the chain must still match.")
@click.option("--public-key", default=None,
              help="Audit public key (base64) to check signatures with, instead of the key "
                   "file's.")
def verify_command(database_url: str | None, key_file: str | None,
                   checkpoint_files: tuple[str, ...], public_key: str | None) -> None:
    """Recompute the hash chain; exit 1 and name the first bad record if it is broken."""
    extra = [orjson.loads(Path(path).read_bytes()) for path in checkpoint_files]
    report = _run(_settings(database_url, key_file),
                  lambda trail: trail.verify(extra, public_key))
    click.echo(report.describe())
    if not report.ok:
        sys.exit(1)


@audit.command("export")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.option("--since", default=None, help="Only records at or after this ISO 8601 UTC time.")
@click.option("--until", default=None, help="Only records before this ISO 8601 UTC time.")
def export_command(database_url: str | None, since: str | None, until: str | None) -> None:
    """Write audit records as JSON lines to standard output (for forensics)."""
    out = sys.stdout.buffer

    async def work(trail: AuditTrail) -> int:
        count = 0
        async for record in trail.export(since, until):
            out.write(orjson.dumps(record) + b"\n")
            count += 1
        return count

    count = _run(_settings(database_url), work)
    click.echo(f"{count} audit records exported", err=True)


@audit.command("checkpoint")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.option("--key-file", default=None, help=KEY_FILE_HELP)
def checkpoint_command(database_url: str | None, key_file: str | None) -> None:
    """Sign the chain's head (Ed25519) and print the checkpoint as JSON; keep it outside
    the database to detect later rewrites (`cityos audit verify --checkpoint FILE`)."""
    settings = _settings(database_url, key_file)
    if not settings.key_file:
        raise click.UsageError("a key file is needed (--key-file or CITYOS_KEY_FILE)")
    checkpoint: dict[str, Any] = _run(settings, lambda trail: trail.checkpoint())
    click.echo(orjson.dumps(checkpoint, option=orjson.OPT_INDENT_2).decode())


@click.group()
def keys() -> None:
    """The key file (encryption master keys, audit signing key)."""


@keys.command("generate")
@click.argument("path", type=click.Path(dir_okay=False))
def generate_command(path: str) -> None:
    """Create a new key file at PATH (mode 0600); refuses to overwrite one."""
    if Path(path).exists():
        raise click.UsageError(f"{path} exists; use `cityos keys rotate` to add a master key")
    ring = generate_key_ring()
    write_key_ring(path, ring)
    click.echo(f"key file written: {path} (active master key {ring.active})")
    click.echo(f"audit public key: {ring.public_key_text()}")


@keys.command("public-key")
@click.option("--key-file", default=None, help=KEY_FILE_HELP)
def public_key_command(key_file: str | None) -> None:
    """Print the audit checkpoint public key (base64), for offline verification."""
    path = key_file or load_settings().key_file
    try:
        click.echo(load_key_ring(path).public_key_text())
    except KeyFileError as error:
        raise click.ClickException(str(error)) from error


@keys.command("rotate")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
@click.option("--key-file", default=None, help=KEY_FILE_HELP)
@click.option("--keep-old", is_flag=True, help="Keep the old master keys in the key file.")
def rotate_command(database_url: str | None, key_file: str | None, keep_old: bool) -> None:
    """Add a new master key and re-wrap every data key with it, while servers keep
    running: the key file first holds old and new keys, then (unless --keep-old) only the
    new one once every data key is re-wrapped."""
    settings = _settings(database_url, key_file)
    if not settings.key_file:
        raise click.UsageError("a key file is needed (--key-file or CITYOS_KEY_FILE)")
    try:
        ring = load_key_ring(settings.key_file)
    except KeyFileError as error:
        raise click.ClickException(str(error)) from error
    rotated = ring.with_new_master_key()
    write_key_ring(settings.key_file, rotated)  # old and new: every reader keeps working
    count = asyncio.run(_rewrap(settings, ring, rotated))
    if not keep_old:
        write_key_ring(settings.key_file, rotated.without(set(ring.master_keys)))
    click.echo(f"{count} data key(s) re-wrapped with master key {rotated.active}")


async def _rewrap(settings: Settings, old: Any, new: Any) -> int:
    from cityos.app import open_store
    from cityos.security.field_crypto import DataKeyring
    from cityos.security.wiring import data_key_store
    store = open_store(settings)
    keyring = DataKeyring(data_key_store(store), old)
    await store.open()
    try:
        return await keyring.rotate(new)
    finally:
        await store.close()
