"""`cityos apikeys …` and `cityos policies …`: API keys and authorization grants, written
straight to the database the server uses (CITYOS_DATABASE_URL or --database). A running
server sees new grants at its next start or through /admin/policies; revoked keys within
a few seconds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from cityos.config import load_settings
from cityos.ngsild.errors import NgsiLdError
from cityos.security.access import AccessControl

T = TypeVar("T")
DATABASE = click.option("--database", "database_url", default=None,
                        help="Database URL (default: CITYOS_DATABASE_URL).")


def _run(database_url: str | None, work: Callable[[AccessControl], Awaitable[T]]) -> T:
    from cityos.app import access_control, open_store
    settings = load_settings({"database_url": database_url})

    async def main() -> T:
        store = open_store(settings)
        access = access_control(settings, store)
        await store.open()
        try:
            await access.load()
            return await work(access)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except NgsiLdError as error:
        raise click.ClickException(error.detail) from None


@click.group()
def apikeys() -> None:
    """API keys of devices and services."""


@apikeys.command("create")
@click.option("--name", required=True, help="What the key is for (shown in listings).")
@click.option("--role", "roles", multiple=True, help="A role the key carries (repeatable).")
@click.option("--tenant", "tenants", multiple=True,
              help="Limit the key to this tenant (repeatable; default: any).")
@click.option("--kind", type=click.Choice(["client", "device"]), default="client")
@click.option("--expires", default=None, help="Expiry, ISO 8601 date-time.")
@DATABASE
def create_key(name: str, roles: tuple[str, ...], tenants: tuple[str, ...], kind: str,
               expires: str | None, database_url: str | None) -> None:
    """Create a key and print it: it is shown this once only."""
    async def work(access: AccessControl) -> Any:
        return await access.keys.create(name, roles=frozenset(roles), kind=kind,
                                        tenants=frozenset(tenants) or None,
                                        expires_at=expires)
    issued = _run(database_url, work)
    click.echo(f"id:  {issued.record.key_id}")
    click.echo(f"key: {issued.key}")
    click.echo("Store the key now: it cannot be shown again.", err=True)


@apikeys.command("list")
@DATABASE
def list_keys(database_url: str | None) -> None:
    """Every key (never its secret), as JSON lines."""
    async def work(access: AccessControl) -> Any:
        return await access.keys.list()
    for record in _run(database_url, work):
        click.echo(json.dumps(record.to_json(), ensure_ascii=False))


@apikeys.command("revoke")
@click.argument("key_id")
@DATABASE
def revoke_key(key_id: str, database_url: str | None) -> None:
    """Revoke a key by its id."""
    async def work(access: AccessControl) -> None:
        await access.keys.revoke(key_id)
    _run(database_url, work)
    click.echo(f"revoked {key_id}")


@click.group()
def policies() -> None:
    """Authorization grants (docs/security.md)."""


@policies.command("grant")
@click.option("--audience", required=True, help="`*`, `role:NAME` or `subject:SUBJECT`.")
@click.option("--op", "operations", multiple=True, required=True,
              type=click.Choice(["read", "write", "subscribe", "admin"]))
@click.option("--tenant", default="*", help="Tenant ('' = default tenant; '*' = any).")
@click.option("--type", "entity_type", default="*", help="Entity type (term or IRI).")
@click.option("--id-pattern", default=None, help="Regular expression over entity ids.")
@click.option("--attr", "attributes", multiple=True,
              help="Only this attribute (repeatable; needed for personal data).")
@DATABASE
def grant(audience: str, operations: tuple[str, ...], tenant: str, entity_type: str,
          id_pattern: str | None, attributes: tuple[str, ...],
          database_url: str | None) -> None:
    """Add a grant; prints it with its id."""
    doc = {"audience": audience, "operations": list(operations), "tenant": tenant,
           "entityType": entity_type, "idPattern": id_pattern,
           "attributes": list(attributes) or None}

    async def work(access: AccessControl) -> Any:
        return await access.grant(doc)
    click.echo(json.dumps(_run(database_url, work).to_json(), ensure_ascii=False))


@policies.command("list")
@DATABASE
def list_grants(database_url: str | None) -> None:
    """Every grant in force (stored, policy file, public types), as JSON lines."""
    async def work(access: AccessControl) -> Any:
        return access.listing()
    for doc in _run(database_url, work):
        click.echo(json.dumps(doc, ensure_ascii=False))


@policies.command("revoke")
@click.argument("grant_id")
@DATABASE
def revoke_grant(grant_id: str, database_url: str | None) -> None:
    """Remove a stored grant by its id."""
    async def work(access: AccessControl) -> None:
        await access.revoke(grant_id)
    _run(database_url, work)
    click.echo(f"removed {grant_id}")
