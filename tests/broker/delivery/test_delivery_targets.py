"""The notification target policy against SSRF: checked when a subscription names its
endpoint and again before every send."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.delivery_support import running_broker
from tests.notification_receiver import NotificationReceiver

from cityos.broker.delivery.backoff import RetryPolicy
from cityos.broker.delivery.service import DeliveryConfig
from cityos.broker.delivery.targets import (
    TargetGuard,
    TargetPolicy,
    validate_notification_target,
)
from cityos.broker.notification import Endpoint
from cityos.config import load_settings
from cityos.ngsild.errors import BadRequestData

DEFAULT = TargetPolicy()


@pytest.mark.parametrize("uri", [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (IPv4 link-local)
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6
    "http://[::ffff:169.254.169.254]/",  # the same, IPv4-mapped
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "https://0.0.0.0/",
    "http://[::]/",
    "mqtt://240.0.0.1/topic",
    "http://255.255.255.255/",
])
def test_dangerous_destinations_are_refused_by_default(uri: str) -> None:
    with pytest.raises(BadRequestData, match="not allowed"):
        validate_notification_target(uri, DEFAULT)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/notify", "https://10.1.2.3/hook",
                                 "mqtt://user:pw@192.168.0.10:1883/kaga/shelters",
                                 "mqtts://203.0.113.7/topic", "http://localhost/notify",
                                 "http://[::1]:9000/", "http://no-such-host.invalid/"])
def test_ordinary_destinations_are_accepted_by_default(uri: str) -> None:
    validate_notification_target(uri, DEFAULT)


@pytest.mark.parametrize("uri", ["ftp://example.org/x", "file:///etc/passwd", "http:///x",
                                 "notaurl", "http://127.0.0.1:99999/"])
def test_unusable_uris_are_bad_request_data(uri: str) -> None:
    with pytest.raises(BadRequestData):
        validate_notification_target(uri, DEFAULT)


def test_deny_list_names_hosts_suffixes_and_networks() -> None:
    policy = TargetPolicy.from_lists(deny="admin.city.example, *.internal, 10.0.0.0/8, ::1")
    for uri in ["http://admin.city.example/", "http://db.internal/", "http://10.20.30.40/",
                "http://[::1]/", "http://ADMIN.city.example/"]:
        with pytest.raises(BadRequestData, match="deny list"):
            validate_notification_target(uri, policy)
    validate_notification_target("http://www.city.example/", policy)
    validate_notification_target("http://192.168.1.1/", policy)


def test_allow_list_admits_only_what_it_names() -> None:
    policy = TargetPolicy.from_lists(allow="*.city.example, 192.168.0.0/16")
    validate_notification_target("https://hooks.city.example/n", policy)
    validate_notification_target("mqtt://192.168.5.5/t", policy)
    for uri in ["http://127.0.0.1/", "http://other.example/", "http://city.example.evil/"]:
        with pytest.raises(BadRequestData, match=r"allow list|does not resolve"):
            validate_notification_target(uri, policy)


def test_only_an_explicit_network_lets_a_default_refused_address_through() -> None:
    policy = TargetPolicy.from_lists(allow="169.254.10.0/24")
    validate_notification_target("http://169.254.10.5/device", policy)
    with pytest.raises(BadRequestData):
        validate_notification_target("http://169.254.169.254/", policy)


def test_deny_wins_over_allow() -> None:
    policy = TargetPolicy.from_lists(allow="10.0.0.0/8", deny="10.0.0.1")
    validate_notification_target("http://10.0.0.2/", policy)
    with pytest.raises(BadRequestData, match="deny list"):
        validate_notification_target("http://10.0.0.1/", policy)


def test_bad_policy_entries_stop_the_configuration() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        TargetPolicy.from_lists(deny="10.0.0.0/33")
    settings = load_settings(environ={"CITYOS_NOTIFICATION_DENY": "http://x/"})
    with pytest.raises(ValueError, match="not a host name"):
        DeliveryConfig.from_settings(settings)


async def test_the_send_time_check_sees_the_policy_too() -> None:
    guard = TargetGuard(TargetPolicy.from_lists(deny="127.0.0.0/8"))
    with pytest.raises(BadRequestData, match="deny list"):
        await guard.check("http://localhost:8080/notify")  # resolved now, not by name
    await TargetGuard(DEFAULT).check("http://localhost:8080/notify")


async def test_a_destination_denied_at_send_time_is_never_contacted(tmp_path: Path) -> None:
    receiver = await NotificationReceiver().start()
    config = DeliveryConfig(policy=TargetPolicy.from_lists(deny="127.0.0.1"),
                            retry=RetryPolicy(0.05, 0.1, 0.0))
    try:
        async with running_broker(tmp_path / "db", config,
                                  [("urn:sub:1", Endpoint(receiver.url))]) as broker:
            await broker.set_count("urn:ngsi-ld:Counter:1", 1)
            await asyncio.sleep(0.4)
            assert receiver.attempts == []
            assert broker.status.failures
            assert all("deny list" in reason for _, reason in broker.status.failures)
    finally:
        await receiver.stop()
