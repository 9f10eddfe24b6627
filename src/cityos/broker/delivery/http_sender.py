"""HTTP(S) notifications (ETSI GS CIM 009 §7.2): POST the Notification to the endpoint."""

from __future__ import annotations

import httpx

from cityos.broker.delivery.http_client import MAX_CONNECTIONS_PER_ORIGIN, KeepAliveClient
from cityos.broker.delivery.senders import DeliveryFailed
from cityos.broker.notification import OutgoingNotification

# Answers that speak for the whole endpoint (a gateway without its backend, throttling).
_OVERLOADED = frozenset({429, 502, 503, 504})


class HttpSender:
    """One client for every endpoint, up to `connections` kept alive per origin (more
    notifications at once are pipelined on them); certificates verified unless configured
    off. Redirects are not followed: a notification is not to be re-sent elsewhere."""

    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 10.0,
                 verify: bool = True, connections: int = MAX_CONNECTIONS_PER_ORIGIN) -> None:
        self._client = KeepAliveClient(httpx.create_ssl_context(verify=verify),
                                       connect_timeout=connect_timeout,
                                       read_timeout=read_timeout,
                                       connections_per_origin=connections)

    async def send(self, notification: OutgoingNotification) -> None:
        headers = [("Content-Type", notification.content_type), *notification.headers]
        try:
            status = await self._client.post(notification.endpoint.uri, headers,
                                             notification.body)
        except httpx.TimeoutException as error:
            raise DeliveryFailed(f"timed out ({type(error).__name__})",
                                 unreachable=True) from None
        except httpx.TransportError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}", unreachable=True) from None
        except (httpx.HTTPError, ValueError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"endpoint answered HTTP {status}",
                                 unreachable=status in _OVERLOADED)

    async def aclose(self) -> None:
        await self._client.aclose()
