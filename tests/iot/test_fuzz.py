"""Random and hostile payloads on both transports (huge, binary, invalid UTF-8, deep JSON,
UltraLight edge cases, forged signatures, replays, unknown devices), each followed by a
valid measurement: nothing crashes, the ingester stays alive, and every valid measurement
is in the entity's temporal history afterwards."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from cityos.iot.signatures import sign
from tests.iot.support import (
    SHARED_BROKER,
    iot_app,
    iot_service,
    provision,
    require_mosquitto,
    unique_prefix,
    wait_connected,
)

DEVICE = {"device_id": "fuzz-1", "entity_type": "FuzzSensor",
          "attributes": [{"object_id": "seq", "name": "sequence", "type": "Integer"},
                         {"object_id": "l", "name": "height", "type": "Number"}]}
ENTITY = "urn:ngsi-ld:FuzzSensor:fuzz-1"
BASE = datetime.now(UTC) - timedelta(hours=2)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
ultralight = st.lists(st.sampled_from(
    ["seq", "l", "|", "#", "", "1", "-", "nan", "inf", "1e999", "true", "\x00", " ",
     "2026-13-40T00:00:00Z", "2026-11-26T00:00:00Z", "2099-01-01T00:00:00Z", "é", "/", "+"]),
    max_size=12).map(lambda parts: "".join(parts).encode())
hostile_payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(min_size=1, max_size=50).map(lambda b: b"\xff\xfe" + b),
    ultralight,
    json_values.map(lambda value: json.dumps(value).encode()),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 3000).map(lambda n: b'{"l":' * n + b"1" + b"}" * n),
    st.sampled_from([b"l|1" + b" " * 70_000, b"{" + b'"l": 1,' * 12_000 + b'"x": 2}',
                     b"v1,t=1,sig=" + b"0" * 64 + b"\nl|1", b"v1,t=\nl|1", b"v1,"]),
)
targets = st.sampled_from(["plain", "unknown-device", "wrong-key", "signed-forged",
                           "signed-replay", "signed-bad-line"])


class Sender:
    def __init__(self, client: TestClient, prefix: str, keys: dict[str, str]) -> None:
        self.client = client
        self.prefix = prefix
        self.keys = keys
        self.mqtt = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                client_id=f"fuzz-{uuid.uuid4().hex[:8]}")
        self.mqtt.connect(*SHARED_BROKER)
        self.mqtt.loop_start()
        self.sent: list[int] = []
        self.last_signed: bytes | None = None

    def send(self, transport: str, apikey: str, device_id: str, payload: bytes,
             fmt: str = "d") -> None:
        if transport == "http":
            response = self.client.post(f"/iot/{'json' if fmt == 'json' else 'd'}",
                                        params={"k": apikey, "i": device_id}, content=payload)
            assert response.status_code in (200, 400, 401), response.text
            return
        topic = f"{self.prefix}/{'json/' if fmt == 'json' else ''}{apikey}/{device_id}/attrs"
        self.mqtt.publish(topic, payload, qos=1).wait_for_publish(10)

    def hostile(self, transport: str, target: str, payload: bytes) -> None:
        plain, signed = self.keys["plain"], self.keys["signed"]
        key = self.keys["hmac"].encode()
        if target == "plain":
            self.send(transport, plain, "fuzz-1", payload)
        elif target == "unknown-device":
            self.send(transport, plain, "no-such-device", payload)
        elif target == "wrong-key":
            self.send(transport, "x" * 24, "fuzz-1", payload)
        elif target == "signed-forged":
            line = sign(b"not the device key, but as long", "fuzz-signed", payload,
                        int(time.time()))
            self.send(transport, signed, "fuzz-signed", line.encode() + b"\n" + payload)
        elif target == "signed-replay" and self.last_signed is not None:
            self.send(transport, signed, "fuzz-signed", self.last_signed)
        else:
            line = sign(key, "fuzz-signed", payload, int(time.time()))
            self.send(transport, signed, "fuzz-signed", line[:-3].encode() + b"\n" + payload)

    def valid(self, transport: str, as_json: bool) -> None:
        seq = len(self.sent)
        stamp = (BASE + timedelta(milliseconds=seq)).isoformat().replace("+00:00", "Z")
        if as_json:
            payload = json.dumps({"seq": seq, "TimeInstant": stamp}).encode()
            self.send(transport, self.keys["plain"], "fuzz-1", payload, "json")
        else:
            self.send(transport, self.keys["plain"], "fuzz-1", f"{stamp}|seq|{seq}".encode())
        self.sent.append(seq)
        body = f"l|{seq}".encode()
        line = sign(self.keys["hmac"].encode(), "fuzz-signed", body, int(time.time()))
        self.last_signed = line.encode() + b"\n" + body
        self.send(transport, self.keys["signed"], "fuzz-signed", self.last_signed)

    def close(self) -> None:
        self.mqtt.loop_stop()
        self.mqtt.disconnect()


def history(client: TestClient) -> set[int]:
    response = client.get(f"/ngsi-ld/v1/temporal/entities/{ENTITY}",
                          params={"attrs": "sequence", "lastN": "1000"})
    assert response.status_code == 200, response.text
    instances: Any = response.json().get("sequence", [])
    instances = instances if isinstance(instances, list) else [instances]
    return {instance["value"] for instance in instances}


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_mosquitto()


def test_hostile_payloads_on_both_transports(tmp_path: Path) -> None:
    prefix = unique_prefix()
    with iot_app(tmp_path / "db.sqlite", mqtt_url="mqtt://127.0.0.1:1883",
                 prefix=prefix) as client:
        plain = provision(client, DEVICE)
        signed = provision(client, {**DEVICE, "device_id": "fuzz-signed",
                                    "entity_name": "urn:ngsi-ld:FuzzSensor:fuzz-signed"},
                           signed=True, hmac=True)
        wait_connected(client)
        sender = Sender(client, prefix, {"plain": plain["apikey"], "signed": signed["apikey"],
                                         "hmac": signed["hmac_key"]})

        @settings(max_examples=250, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(payload=hostile_payloads, target=targets,
               transport=st.sampled_from(["http", "mqtt"]), as_json=st.booleans())
        def throw(payload: bytes, target: str, transport: str, as_json: bool) -> None:
            sender.hostile(transport, target, payload)
            sender.valid(transport, as_json)

        try:
            throw()
        finally:
            sender.close()
        service = iot_service(client)
        deadline = time.monotonic() + 30
        while not set(sender.sent) <= (found := history(client)):
            assert time.monotonic() < deadline, f"missing {sorted(set(sender.sent) - found)}"
            time.sleep(0.1)
        assert service.ingester.alive and service.mqtt is not None and service.mqtt.alive
        assert client.get("/health").status_code == 200
        metrics = client.get("/metrics").text
        for reason in ("deviceUnknown", "deviceSignatureInvalid", "payloadReplayed",
                       "payloadMalformed"):
            for transport in ("http", "mqtt"):
                assert f'reason="{reason}",transport="{transport}"' in metrics
        assert "cityos_security_event_store_failures_total" not in metrics
