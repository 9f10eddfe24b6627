"""Identity joins the City OS as a plugin: the login pages, the OIDC provider and the
admin API as routes; clean-up of expired records; the demo administrator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import click
from starlette.routing import BaseRoute

from cityos.plugins import CityPlugin, Platform
from cityos.security.admin_api import AdminApi
from cityos.security.identity import Identity
from cityos.security.login_pages import LoginPages
from cityos.security.oidc.provider import OidcProvider
from cityos.security.passwords import one_time_password

log = logging.getLogger("cityos.security")
PURGE_INTERVAL = 600.0
DEMO_ADMIN = "admin"


def identity_of(platform: Platform) -> Identity:
    if platform.identity is None:
        raise RuntimeError("the platform was assembled without identity")
    return platform.identity


class IdentityPlugin(CityPlugin):
    name = "identity"
    in_platform_openapi = True


    def links(self) -> Sequence[tuple[str, str]]:
        return [("Operator login", "/auth/login")]

    def __init__(self) -> None:
        self._purger: asyncio.Task[None] | None = None

    def routes(self, platform: Platform) -> Sequence[BaseRoute]:
        identity = identity_of(platform)
        return [*LoginPages(identity).routes(), *OidcProvider(identity).routes(),
                *AdminApi(identity).routes()]

    async def startup(self, platform: Platform) -> None:
        identity = identity_of(platform)
        await identity.purge_expired()
        self._purger = asyncio.create_task(self._purge_forever(identity))

    async def _purge_forever(self, identity: Identity) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            try:
                await identity.purge_expired()
            except Exception:
                log.exception("purging expired security records failed")

    async def shutdown(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger

    async def load_demo(self, platform: Platform) -> None:
        """The demo administrator, with a random password, if there is no operator."""
        identity = identity_of(platform)
        if await identity.operators.all():
            return
        password = one_time_password()
        await identity.operators.create(DEMO_ADMIN, password, ["admin"], one_time=True)
        log.warning("Demo administrator %r created with a one-time password; it is shown "
                    "on the terminal only, never written to the log.", DEMO_ADMIN)
        click.echo(demo_login_text(platform.settings.public_url, DEMO_ADMIN, password))


def demo_login_text(public_url: str, username: str, password: str) -> str:
    return (f"Demo administrator created. Sign in at {public_url}/auth/login\n"
            f"  username: {username}\n"
            f"  one-time password: {password}\n"
            "  At the first login you enrol an authenticator app (TOTP) by QR code, get "
            "recovery codes and choose your own password. This one is shown only now.")
