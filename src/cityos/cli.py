"""The `cityos` command line."""

from __future__ import annotations

import logging

import click

from cityos.cli_database import db, export_command, import_command
from cityos.config import load_settings


@click.group()
def main() -> None:
    """Kaga City OS: an ETSI NGSI-LD data platform for the city."""


main.add_command(db)
main.add_command(export_command)
main.add_command(import_command)


@main.command()
@click.option("--host", default=None, help="Address to listen on (CITYOS_HOST).")
@click.option("--port", default=None, type=int, help="TCP port (CITYOS_PORT, default 1026).")
@click.option("--database", "database_url", default=None,
              help="sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL).")
@click.option("--demo/--no-demo", default=None, help="Load the Kaga demo data (CITYOS_DEMO).")
def serve(host: str | None, port: int | None, database_url: str | None,
          demo: bool | None) -> None:
    """Start the City OS HTTP server."""
    import uvicorn

    from cityos.app import build_app

    settings = load_settings({"host": host, "port": port, "database_url": database_url,
                              "demo": demo})
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(settings)
    base = f"http://{settings.host}:{settings.port}"
    click.echo(f"Kaga City OS listening on {base}")
    click.echo(f"  NGSI-LD API   {base}/ngsi-ld/v1/entities?type=EvacuationShelter")
    click.echo(f"  API reference {base}/docs")
    click.echo(f"  Health        {base}/health")
    click.echo(f"  Metrics       {base}/metrics")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                access_log=False)
