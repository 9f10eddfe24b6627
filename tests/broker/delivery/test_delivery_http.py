"""HTTP(S) notifications against real servers on 127.0.0.1: what is sent, what counts as
delivered, timeouts, and certificate verification on by default."""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.notification_receiver import NotificationReceiver

from cityos.broker.delivery.http_sender import HttpSender
from cityos.broker.delivery.senders import DeliveryFailed
from cityos.broker.notification import Endpoint, OutgoingNotification

BODY = b'{"id": "urn:ngsi-ld:Notification:1", "type": "Notification", "data": []}'


def notification(uri: str, content_type: str = "application/json") -> OutgoingNotification:
    return OutgoingNotification("kaga", "urn:sub:1", Endpoint(uri), content_type, BODY,
                                (("NGSILD-Tenant", "kaga"), ("X-Auth-Token", "t0k3n")))


@pytest.fixture
async def receiver() -> AsyncIterator[NotificationReceiver]:
    server = await NotificationReceiver().start()
    yield server
    await server.stop()


@pytest.fixture
async def sender() -> AsyncIterator[HttpSender]:
    client = HttpSender(connect_timeout=1.0, read_timeout=0.5)
    yield client
    await client.aclose()


async def test_posts_the_body_with_content_type_and_headers(
        receiver: NotificationReceiver, sender: HttpSender) -> None:
    await sender.send(notification(receiver.url, "application/ld+json"))
    [got] = receiver.received
    assert got.body["type"] == "Notification"
    assert got.headers["content-type"] == "application/ld+json"
    assert (got.headers["ngsild-tenant"], got.headers["x-auth-token"]) == ("kaga", "t0k3n")


@pytest.mark.parametrize("status", [200, 201, 204])
async def test_any_2xx_is_success(receiver: NotificationReceiver, sender: HttpSender,
                                  status: int) -> None:
    receiver.status = status
    await sender.send(notification(receiver.url))


@pytest.mark.parametrize(("status", "whole_endpoint"), [(400, False), (500, False),
                                                        (307, False), (503, True)])
async def test_other_answers_are_failures(receiver: NotificationReceiver, sender: HttpSender,
                                          status: int, whole_endpoint: bool) -> None:
    receiver.status = status
    with pytest.raises(DeliveryFailed, match=f"HTTP {status}") as failure:
        await sender.send(notification(receiver.url))
    assert failure.value.unreachable is whole_endpoint
    assert len(receiver.attempts) == 1  # a redirect is not followed


async def test_a_slow_endpoint_times_out(receiver: NotificationReceiver,
                                         sender: HttpSender) -> None:
    receiver.delay = 3.0
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match=r"timed out|in time") as failure:
        await sender.send(notification(receiver.url))
    assert time.monotonic() - started < 1.5
    assert failure.value.unreachable


async def test_a_refused_connection_is_a_failure(sender: HttpSender) -> None:
    with pytest.raises(DeliveryFailed) as failure:
        await sender.send(notification("http://127.0.0.1:9/notify"))
    assert failure.value.unreachable


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_https_certificates_are_verified_by_default(self_signed: ssl.SSLContext,
                                                          tmp_path: Path) -> None:
    server = await NotificationReceiver(tls=self_signed).start()
    strict, lax = HttpSender(), HttpSender(verify=False)
    try:
        with pytest.raises(DeliveryFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await strict.send(notification(server.url))
        assert server.received == []
        await lax.send(notification(server.url))  # CITYOS_NOTIFICATION_TLS_VERIFY=false
        assert len(server.received) == 1
    finally:
        await strict.aclose()
        await lax.aclose()
        await server.stop()


async def test_a_kept_alive_connection_closed_by_the_server_is_replaced(
        receiver: NotificationReceiver, sender: HttpSender) -> None:
    await sender.send(notification(receiver.url))
    await receiver.stop()  # closes the connection the sender keeps alive
    await receiver.start()
    await sender.send(notification(receiver.url))
    assert len(receiver.received) == 2


async def test_credentials_in_the_uri_become_basic_auth_and_the_query_is_kept(
        receiver: NotificationReceiver, sender: HttpSender) -> None:
    uri = f"http://city:p%40ss@127.0.0.1:{receiver.port}/hooks/ngsi?token=abc"
    await sender.send(notification(uri))
    [got] = receiver.received
    assert got.path == "/hooks/ngsi?token=abc"
    assert got.headers["authorization"] == "Basic " + base64.b64encode(b"city:p@ss").decode()
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_a_header_that_would_smuggle_another_is_refused(
        receiver: NotificationReceiver, sender: HttpSender) -> None:
    smuggler = OutgoingNotification("", "urn:sub:1", Endpoint(receiver.url),
                                    "application/json", BODY,
                                    (("X-Info", "a\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1"),))
    with pytest.raises(DeliveryFailed, match="cannot be sent"):
        await sender.send(smuggler)
    assert receiver.attempts == []


def numbered(uri: str, n: int) -> OutgoingNotification:
    body = b'{"type": "Notification", "n": %d}' % n
    return OutgoingNotification("", "urn:sub:1", Endpoint(uri), "application/json", body)


async def test_notifications_sent_at_once_are_pipelined_on_the_kept_connections(
        receiver: NotificationReceiver) -> None:
    sender = HttpSender(connect_timeout=1.0, read_timeout=2.0, connections=1)
    try:
        await asyncio.gather(*(sender.send(numbered(receiver.url, n)) for n in range(20)))
        await asyncio.gather(*(sender.send(numbered(receiver.url, n)) for n in range(20, 25)))
    finally:
        await sender.aclose()
    assert [r.body["n"] for r in receiver.received] == list(range(25))  # in order, once
    assert receiver.connections == 1


async def test_without_pipelining_each_connection_carries_one_request_at_a_time(
        receiver: NotificationReceiver) -> None:
    receiver.delay = 0.2
    sender = HttpSender(connect_timeout=1.0, read_timeout=2.0, connections=4)
    started = time.monotonic()
    try:
        await asyncio.gather(*(sender.send(numbered(receiver.url, n)) for n in range(4)))
    finally:
        await sender.aclose()
    assert receiver.connections == 4
    assert time.monotonic() - started < 0.7  # side by side, not one after the other


async def _close_after_one_answer(reader: asyncio.StreamReader,
                                  writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    seen.append(await reader.readexactly(length))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


async def test_an_endpoint_closing_after_each_answer_gets_every_notification() -> None:
    seen: list[bytes] = []
    server = await asyncio.start_server(
        lambda r, w: _close_after_one_answer(r, w, seen), "127.0.0.1", 0)
    uri = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/notify"
    sender = HttpSender(connect_timeout=1.0, read_timeout=2.0, connections=1)
    try:
        await asyncio.gather(*(sender.send(numbered(uri, n)) for n in range(6)))
        await sender.send(numbered(uri, 6))
    finally:
        await sender.aclose()
        server.close()
    # Requests written behind an answer with "Connection: close" were not processed:
    # each went again on a connection of its own, so every one arrived exactly once.
    assert sorted(seen) == sorted(numbered(uri, n).body for n in range(7))


async def test_a_timed_out_answer_fails_the_requests_pipelined_behind_it(
        receiver: NotificationReceiver) -> None:
    receiver.delay = 1.0
    sender = HttpSender(connect_timeout=1.0, read_timeout=0.3, connections=1)
    try:
        outcomes = await asyncio.gather(
            *(sender.send(numbered(receiver.url, n)) for n in range(3)),
            return_exceptions=True)
    finally:
        await sender.aclose()
    assert all(isinstance(o, DeliveryFailed) and o.unreachable for o in outcomes)
