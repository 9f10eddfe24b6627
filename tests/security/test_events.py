"""A security event becomes an Alert entity in the admin tenant and a counter."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from cityos.security.events import ADMIN_TENANT, SecurityEvent


def test_security_event_is_stored_as_alert_and_counted(tmp_path: Path) -> None:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'c.db'}", "dev": True},
                             environ={})
    app = build_app(settings, plugins=[])
    with TestClient(app) as client:
        event = SecurityEvent(sub_category="deviceSignatureInvalid", severity="high",
                              description="HMAC signature did not match",
                              source="iot.mqtt", subject="device:river-01",
                              details={"topic": "/key/river-01/attrs"})
        alert_id = client.portal.call(app.state.platform.security_events.raise_event, event)
        alert = client.get(f"/ngsi-ld/v1/entities/{alert_id}",
                           headers={"NGSILD-Tenant": ADMIN_TENANT},
                           params={"options": "keyValues"}).json()
        metrics = client.get("/metrics").text
    assert alert["type"] == "Alert"
    assert alert["category"] == "security"
    assert alert["severity"] == "high"
    assert alert["subject"] == "device:river-01"
    assert alert["data"] == {"json": {"topic": "/key/river-01/attrs"}}
    assert ('cityos_security_events_total{severity="high",'
            'sub_category="deviceSignatureInvalid"} 1') in metrics
