"""`cityos operators …`, `cityos clients …` and `cityos oidc rotate-keys`: identity
administration from the command line, on the server's database (the server may run)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import click

from cityos.config import load_settings
from cityos.metrics import Counters
from cityos.security.identity import Identity
from cityos.security.oidc.clients import ClientError
from cityos.security.operators import OperatorError
from cityos.security.passwords import one_time_password

DATABASE_HELP = "sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL)."
T = TypeVar("T")


@asynccontextmanager
async def _identity(database_url: str | None) -> AsyncIterator[Identity]:
    from cityos.app import open_security_records, open_store
    settings = load_settings({"database_url": database_url})
    store = open_store(settings)
    records = open_security_records(store)
    await store.open()
    try:
        yield Identity(settings, records, Counters(), None)
    finally:
        await store.close()


def _run(database_url: str | None, work: Callable[[Identity], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _identity(database_url) as identity:
            return await work(identity)
    try:
        return asyncio.run(main())
    except (OperatorError, ClientError) as error:
        raise click.ClickException(str(error)) from error


@click.group()
def operators() -> None:
    """Operators (city staff who run the platform): password + TOTP second factor."""


@operators.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="A role (repeatable), e.g. admin.")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
def add_operator(username: str, roles: tuple[str, ...], database_url: str | None) -> None:
    """Create an operator; prints a one-time password. TOTP enrolment happens at the
    first login (/auth/login)."""
    password = one_time_password()

    async def work(identity: Identity) -> str:
        await identity.operators.create(username, password, list(roles), one_time=True)
        return identity.issuer

    issuer = _run(database_url, work)
    click.echo(f"operator {username} created (roles: {', '.join(roles) or 'none'})")
    click.echo(f"one-time password: {password}")
    click.echo(f"sign in at {issuer}/auth/login and enrol an authenticator app")


@operators.command("list")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
def list_operators(database_url: str | None) -> None:
    """List operators."""
    async def work(identity: Identity) -> list[str]:
        return [f"{op.username}\troles={','.join(op.roles) or '-'}\t"
                f"{'enrolled' if op.enrolled else 'not-enrolled'}\t"
                f"{'disabled' if op.disabled else 'active'}"
                for op in await identity.operators.all()]

    for line in _run(database_url, work):
        click.echo(line)


@click.group()
def clients() -> None:
    """OIDC clients of the built-in provider."""


@clients.command("add")
@click.argument("client_id")
@click.option("--role", "roles", multiple=True, help="A role the client's tokens carry.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Allowed redirect URI (authorization code flow; repeatable).")
@click.option("--public", is_flag=True, help="A public client (PKCE, no secret).")
@click.option("--name", default="", help="A readable name.")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
def add_client(client_id: str, roles: tuple[str, ...], redirect_uris: tuple[str, ...],
               public: bool, name: str, database_url: str | None) -> None:
    """Register a client; prints its secret (shown only now)."""
    async def work(identity: Identity) -> tuple[str | None, str]:
        _, secret = await identity.clients.create(client_id, name=name, roles=list(roles),
                                                  redirect_uris=list(redirect_uris),
                                                  public=public)
        return secret, identity.issuer

    secret, issuer = _run(database_url, work)
    click.echo(f"client {client_id} registered")
    if secret is not None:
        click.echo(f"client secret: {secret}")
    click.echo(f"token endpoint: {issuer}/oidc/token")


@clients.command("list")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
def list_clients(database_url: str | None) -> None:
    """List OIDC clients."""
    async def work(identity: Identity) -> list[str]:
        return [f"{c.client_id}\troles={','.join(c.roles) or '-'}\t"
                f"{'public' if c.public else 'confidential'}"
                for c in await identity.clients.all()]

    for line in _run(database_url, work):
        click.echo(line)


@click.group()
def oidc() -> None:
    """The built-in OpenID Connect provider."""


@oidc.command("rotate-keys")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
def rotate_keys(database_url: str | None) -> None:
    """Start signing with a new key; the old one stays published until its tokens expire."""
    kid = _run(database_url, lambda identity: identity.keys.rotate())
    click.echo(f"new signing key {kid}")
