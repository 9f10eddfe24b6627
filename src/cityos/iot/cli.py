"""`cityos iot …`: provisioning through a running server's /iot API, the simulator, and
the rotation of CITYOS_IOT_SECRET_KEY straight on the database (like `cityos keys
rotate`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

if TYPE_CHECKING:
    from cityos.config import Settings
    from cityos.storage.devices import DeviceStore

SERVER_HELP = "URL of the running City OS (default http://127.0.0.1:1026)."
DATABASE_HELP = "sqlite:///PATH or postgresql://… (CITYOS_DATABASE_URL)."


class Api:
    def __init__(self, server: str, tenant: str, token: str | None) -> None:
        self.server = server.rstrip("/")
        self.headers = {"NGSILD-Tenant": tenant} if tenant else {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = httpx.request(method, self.server + path, headers=self.headers,
                                     timeout=30.0, **kwargs)
        except httpx.TransportError as error:
            raise click.ClickException(f"{self.server} not reachable: {error}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise click.ClickException(f"{response.status_code}: {detail}")
        return response.json() if response.content else None


def _options(command: Any) -> Any:
    command = click.option("--server", default="http://127.0.0.1:1026", help=SERVER_HELP)(
        command)
    command = click.option("--tenant", default="", help="Service (NGSILD-Tenant).")(command)
    return click.option("--token", default=None, envvar="CITYOS_TOKEN",
                        help="Bearer token of an iot-admin (CITYOS_TOKEN).")(command)


def _echo(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@click.group()
def iot() -> None:
    """IoT devices: provisioning, bulk import, the simulator, key rotation."""


@iot.group()
def devices() -> None:
    """Provisioned devices."""


@devices.command("add")
@_options
@click.argument("device_json")
def add_device(server: str, tenant: str, token: str | None, device_json: str) -> None:
    """Provision a device from DEVICE_JSON (FIWARE device shape; a file path or JSON text).
    Prints the device with its credentials, shown this once."""
    text = Path(device_json).read_text(encoding="utf-8") if Path(device_json).is_file() \
        else device_json
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}") from None
    _echo(Api(server, tenant, token).call("POST", "/iot/devices", json={
        "devices": body if isinstance(body, list) else [body]}))


@devices.command("list")
@_options
def list_devices(server: str, tenant: str, token: str | None) -> None:
    """List the devices of a service."""
    for device in Api(server, tenant, token).call("GET", "/iot/devices")["devices"]:
        click.echo(f"{device['device_id']}\t{device['entity_name']}\t{device['transport']}"
                   f"\tlast seen {device.get('last_seen') or '-'}")


@devices.command("remove")
@_options
@click.argument("device_id")
def remove_device(server: str, tenant: str, token: str | None, device_id: str) -> None:
    """Remove a device (its entity and history stay)."""
    Api(server, tenant, token).call("DELETE", f"/iot/devices/{device_id}")
    click.echo(f"removed {device_id}")


@iot.command("import-csv")
@_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_csv(server: str, tenant: str, token: str | None, file: Path) -> None:
    """Provision every device of a CSV file (format in docs/iot.md)."""
    result = _import(server, tenant, token, file)
    for error in result["errors"]:
        click.echo(f"  line {error['line']}: {error['detail']}", err=True)
    _echo(result["devices"])
    click.echo(f"provisioned {len(result['devices'])}; refused {len(result['errors'])}",
               err=True)


def _import(server: str, tenant: str, token: str | None, file: Path) -> Any:
    api = Api(server, tenant, token)
    api.headers["Content-Type"] = "text/csv"
    return api.call("POST", "/iot/devices/import", content=file.read_bytes())


@iot.group()
def groups() -> None:
    """Service groups: devices sharing a mapping (FIWARE service groups)."""


@groups.command("add")
@_options
@click.argument("group_json")
def add_group(server: str, tenant: str, token: str | None, group_json: str) -> None:
    """Create or replace a group from GROUP_JSON (a file path or JSON text)."""
    text = Path(group_json).read_text(encoding="utf-8") if Path(group_json).is_file() \
        else group_json
    body = json.loads(text)
    _echo(Api(server, tenant, token).call("POST", "/iot/services", json={
        "services": body if isinstance(body, list) else [body]}))


@groups.command("list")
@_options
def list_groups(server: str, tenant: str, token: str | None) -> None:
    """List the groups of a service."""
    for group in Api(server, tenant, token).call("GET", "/iot/services")["services"]:
        click.echo(f"{group['name']}\t{group['entity_type']}\t"
                   + ",".join(a["object_id"] + "→" + a["name"] for a in group["attributes"]))


@groups.command("remove")
@_options
@click.argument("name")
def remove_group(server: str, tenant: str, token: str | None, name: str) -> None:
    """Remove a group that has no devices left."""
    Api(server, tenant, token).call("DELETE", f"/iot/services/{name}")
    click.echo(f"removed {name}")


@iot.command("simulate")
@click.option("--url", default="mqtt://127.0.0.1:1883", help="MQTT broker.")
@click.option("--devices", "device_ids", default="",
              help="Comma-separated demo device ids (default: all).")
@click.option("--rate", default=5.0, type=float, help="Readings per second in total.")
@click.option("--duration", default=60.0, type=float, help="Seconds before it stops.")
@click.option("--prefix", default="", help="Topic prefix (CITYOS_IOT_MQTT_TOPIC_PREFIX).")
def simulate_command(url: str, device_ids: str, rate: float, duration: float,
                     prefix: str) -> None:
    """Publish people-counter and river-level readings of the demo devices over MQTT."""
    from cityos.iot.simulate import simulate
    if rate <= 0 or duration <= 0:
        raise click.BadParameter("rate and duration must be positive")
    wanted = [d.strip() for d in device_ids.split(",") if d.strip()]
    try:
        sent = asyncio.run(simulate(url, wanted, rate, duration, prefix))
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"published {sent} readings")


@iot.command("rotate-secret-key")
@click.option("--database", "database_url", default=None, help=DATABASE_HELP)
def rotate_secret_key_command(database_url: str | None) -> None:
    """Re-encrypt every device HMAC key under CITYOS_IOT_SECRET_KEY, in one transaction.
    Keys still encrypted under an older key are read with CITYOS_IOT_SECRET_KEY_PREVIOUS;
    if any key opens with none of them, nothing is changed. Restart the servers with the
    new key and the old ones as previous first (docs/iot.md)."""
    from cityos.config import load_settings
    from cityos.iot.secret_keys import CURRENT_SETTING, PREVIOUS_SETTING, UnreadableHmacKeys
    settings = load_settings({"database_url": database_url})
    if not settings.iot_secret_key:
        raise click.UsageError(f"{CURRENT_SETTING} is not set: set it to the new key, and "
                               f"{PREVIOUS_SETTING} to the key(s) used so far")
    try:
        count = asyncio.run(_reencrypt_hmac_keys(settings))
    except UnreadableHmacKeys as refused:
        raise click.ClickException(
            f"{refused}; nothing was changed. Add the key they were encrypted with to "
            f"{PREVIOUS_SETTING}, or provision those devices again with \"hmac\": true."
        ) from None
    click.echo(f"re-encrypted {count} device HMAC key(s) under {CURRENT_SETTING}")


async def _reencrypt_hmac_keys(settings: Settings) -> int:
    from cityos.app import open_store
    from cityos.iot.secret_keys import open_vault, rotate_secret_key
    from cityos.storage.siblings import sibling_store
    store = open_store(settings)
    devices: DeviceStore = sibling_store(store, "devices", "DeviceStore")
    await store.open()
    try:
        vault = await open_vault(devices, settings.iot_secret_key,
                                 settings.iot_secret_key_previous)
        return await rotate_secret_key(devices, vault, forget_generated_key=True)
    finally:
        await store.close()
