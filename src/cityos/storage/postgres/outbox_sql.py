"""The notification outbox on PostgreSQL: SQL and row conversion.

Claiming: a row belongs to the session (pid, backend_start) that inserted or claimed it.
`CLAIM` takes rows nobody owns, rows of this session, and rows whose owner session no
longer exists (pg_stat_activity), `FOR UPDATE SKIP LOCKED`: two processes claiming at the
same moment lock disjoint rows, and each row is delivered by one process at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from cityos.storage.delivery import NotificationRecord, OutboxEntry

COLUMNS = ("id, tenant, subscription_id, ordering_key, endpoint, content_type, body, "
           "headers, created_at, attempts, next_attempt_at")
INSERT = ("INSERT INTO notification_outbox (tenant, subscription_id, ordering_key, "
          "endpoint, content_type, body, headers, created_at, owner_pid, owner_since) "
          "SELECT tenant, subscription_id, ordering_key, endpoint, content_type, body, "
          "headers, created_at, owner_pid, owner_since FROM unnest(%s::text[], %s::text[], "
          "%s::text[], %s::text[], %s::text[], %s::bytea[], %s::text[], %s::float8[], "
          "%s::int[], %s::timestamptz[]) "
          "WITH ORDINALITY AS r(tenant, subscription_id, ordering_key, endpoint, "
          "content_type, body, headers, created_at, owner_pid, owner_since, n) "
          "ORDER BY n RETURNING id")
_CLAIM = (
    "UPDATE notification_outbox o SET owner_pid = %(pid)s, owner_since = %(since)s "
    "FROM (SELECT c.id FROM notification_outbox c WHERE c.id > %(after)s AND ("
    "c.owner_pid IS NULL OR {own}"
    "NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.owner_pid "
    "AND a.backend_start = c.owner_since)) "
    "ORDER BY c.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) claimed "
    f"WHERE o.id = claimed.id RETURNING {', '.join('o.' + c for c in COLUMNS.split(', '))}")
# Rows nobody owns, rows of ended sessions, and this session's own rows (resuming).
CLAIM = _CLAIM.replace("{own}", "(c.owner_pid = %(pid)s AND c.owner_since = %(since)s) OR ")
# Only rows nobody owns or of ended sessions (taking over; own rows are queued already).
TAKE_OVER = _CLAIM.replace("{own}", "")
DELETE = "DELETE FROM notification_outbox WHERE id = ANY(%s::bigint[])"
RESCHEDULE = ("UPDATE notification_outbox SET attempts = %s, next_attempt_at = %s, "
              "last_error = %s WHERE id = %s")
COUNT = "SELECT count(*) FROM notification_outbox"


def insert_params(records: Sequence[NotificationRecord], now: float,
                  owner: tuple[int, Any]) -> tuple[list[Any], ...]:
    n = len(records)
    return ([r.tenant for r in records], [r.subscription_id for r in records],
            [r.ordering_key for r in records],
            [orjson.dumps(r.endpoint).decode() for r in records],
            [r.content_type for r in records], [r.body for r in records],
            [orjson.dumps(r.headers).decode() for r in records], [now] * n,
            [owner[0]] * n, [owner[1]] * n)


def entry(row: Sequence[Any]) -> OutboxEntry:
    (entry_id, tenant, subscription_id, ordering_key, endpoint, content_type, body, headers,
     created_at, attempts, next_attempt_at) = row
    record = NotificationRecord(
        tenant, subscription_id, ordering_key, orjson.loads(endpoint), content_type,
        bytes(body), tuple((str(k), str(v)) for k, v in orjson.loads(headers)))
    return OutboxEntry(int(entry_id), record, float(created_at), int(attempts),
                       float(next_attempt_at))
