"""The `cityos` command line."""

from __future__ import annotations

import logging

import click

from cityos.cli_database import db, export_command, import_group
from cityos.cli_identity import clients, oidc, operators
from cityos.cli_security import apikeys, policies
from cityos.config import load_settings
from cityos.security.cli import audit, keys


class CityGroup(click.Group):
    """The command line's own commands plus those of the installed plugins, looked up
    when the command line runs (not at import)."""

    def _plugin_commands(self) -> dict[str, click.Command]:
        from cityos.plugins import installed_plugins
        return {command.name or "": command for plugin in installed_plugins()
                for command in plugin.commands()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugin_commands().get(cmd_name)


@click.group(cls=CityGroup)
def main() -> None:
    """Kaga City OS: an ETSI NGSI-LD data platform for the city."""


main.add_command(db)
main.add_command(export_command)
main.add_command(import_group)
main.add_command(audit)
main.add_command(keys)
main.add_command(operators)
main.add_command(clients)
main.add_command(oidc)
main.add_command(apikeys)
main.add_command(policies)


@main.command()
@click.option("--host", default=None, help="Address to listen on (CITYOS_HOST).")
@click.option("--port", default=None, type=int, help="TCP port (CITYOS_PORT, default 1026).")
@click.option("--database", "database_url", default=None,
              help="sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL).")
@click.option("--demo/--no-demo", default=None, help="Load the Kaga demo data (CITYOS_DEMO).")
@click.option("--dev", is_flag=True, default=None,
              help="Development mode: security off, loopback addresses only (CITYOS_DEV).")
@click.option("--tls-cert", default=None, help="PEM certificate: serve HTTPS (CITYOS_TLS_CERT).")
@click.option("--tls-key", default=None, help="PEM private key of --tls-cert (CITYOS_TLS_KEY).")
def serve(host: str | None, port: int | None, database_url: str | None,
          demo: bool | None, dev: bool | None, tls_cert: str | None,
          tls_key: str | None) -> None:
    """Start the City OS HTTP server."""
    import uvicorn

    from cityos.app import build_app
    from cityos.security.dev_mode import WARNING, DevModeRefused, check_dev_mode

    settings = load_settings({"host": host, "port": port, "database_url": database_url,
                              "demo": demo, "dev": dev, "tls_cert": tls_cert,
                              "tls_key": tls_key})
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_dev_mode(settings.dev, settings.host)
    except DevModeRefused as refused:
        raise click.UsageError(str(refused)) from refused
    if settings.dev:
        click.secho(WARNING, fg="red", bold=True, err=True)
    from cityos.security.keys import KeyFileError
    try:
        app = build_app(settings)
    except KeyFileError as refused:
        raise click.ClickException(f"refusing to start: {refused}") from refused
    scheme = "https" if settings.tls_cert else "http"
    base = f"{scheme}://{settings.host}:{settings.port}"
    click.echo(f"Kaga City OS listening on {base}")
    links = [("NGSI-LD API", "/ngsi-ld/v1/entities?type=EvacuationShelter"),
             ("API reference", "/docs"),
             *(link for plugin in app.state.plugins for link in plugin.links()),
             ("Health", "/health"), ("Metrics", "/metrics")]
    for label, path in links:
        click.echo(f"  {label:<16}{base}{path}")
    from cityos.api.transport import CoalescingHttpToolsProtocol
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                access_log=False, ssl_certfile=settings.tls_cert or None,
                ssl_keyfile=settings.tls_key or None, http=CoalescingHttpToolsProtocol,
                server_header=False)
