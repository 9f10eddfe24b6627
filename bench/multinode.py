"""Several `cityos serve` processes on one PostgreSQL behind nginx: the update rate
(PATCH …/attrs on 1,000 entities, wrk, 32 connections) through nginx to one node, then to
two nodes, same database, same run. The figure is the ratio two nodes / one node; the
baseline is nginx in front of the bare ASGI app (what nginx and wrk alone cost here).

Nodes share their entity events through NATS JetStream (BENCH_NATS_URL, default
nats://127.0.0.1:4222) as a production deployment would (docs/scaling.md).

Needs nginx, wrk, PostgreSQL with PostGIS (BENCH_POSTGRES_URL) and NATS.
Run: python -m bench.multinode
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import common
from bench.cpu_share import cpu_share
from bench.postgres import bench_schema, postgres_server

N_ENTITIES = 1000
TARGET_RATIO = 1.6
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  upstream cityos {{
    least_conn;
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 1m;
    location / {{
      proxy_pass http://cityos;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


def nginx_config(prefix: Path, port: int, upstream_ports: Sequence[int]) -> str:
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstream_ports)
    return NGINX_CONF.format(prefix=prefix, port=port, servers=servers)


@contextlib.contextmanager
def nginx_in_front(upstream_ports: Sequence[int]) -> Iterator[common.Server]:
    if shutil.which("nginx") is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install -y nginx-light)")
    with tempfile.TemporaryDirectory(prefix="cityos-nginx-") as tmp:
        prefix = Path(tmp)
        port = common.free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_config(prefix, port, upstream_ports))
        log_path = prefix / "stderr.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(prefix)],
                                       stdout=log, stderr=subprocess.STDOUT)
            server = common.Server("nginx", port, process, prefix, log_path=log_path)
            try:
                common._wait_ready(server, "/health")
                yield server
            finally:
                common._stop(process)


def _patch_rate(base: str) -> dict[str, Any]:
    env = {"BENCH_ENTITIES": str(N_ENTITIES), "BENCH_PREFIX": common.ENTITY_PREFIX}
    return common.wrk_summary(common.run_wrk(base, common.LUA_DIR / "patch.lua", env=env))


def _through_nginx(ports: Sequence[int],
                   nodes: Sequence[common.Server] = ()) -> dict[str, Any]:
    """The PATCH rate through nginx, with the cores each process group used meanwhile."""
    cores: dict[str, Any] = {}
    named = {f"node_{chr(ord('a') + i)}": node.process.pid for i, node in enumerate(nodes)}
    with nginx_in_front(ports) as proxy, cpu_share(named, cores):
        result = _patch_rate(proxy.base)
    return {**result, "cores_used": cores}


def measure() -> dict[str, Any]:
    stream = f"BENCH_{uuid.uuid4().hex[:8]}"
    settings = {"CITYOS_EVENT_BUS": NATS_URL, "CITYOS_EVENT_BUS_STREAM": stream}
    with common.bare_server() as bare:
        baseline = _through_nginx([bare.port])
    with bench_schema() as url, postgres_server(url) as alone:
        # One node without NATS: no event stream and no change journal while nobody
        # subscribes (what a single-node installation pays).
        common.load_entities(alone.port, N_ENTITIES)
        single = _through_nginx([alone.port], [alone])
    with bench_schema() as url, postgres_server(url, settings) as node_a, \
            postgres_server(url, settings) as node_b:
        _, load_s = common.load_entities(node_a.port, N_ENTITIES)
        one = _through_nginx([node_a.port], [node_a])
        two = _through_nginx([node_a.port, node_b.port], [node_a, node_b])
    one_rps, two_rps = one["requests_per_s"], two["requests_per_s"]
    scaling = common.ratio(two_rps, one_rps)
    return {
        "scenario": "multinode_patch",
        "date": common.now_iso(),
        "unit": "requests/s",
        "target": f"two nodes >= {TARGET_RATIO} x one node",
        "measured": two_rps,
        "one_node": one_rps,
        "two_nodes": two_rps,
        "scaling_ratio": scaling,
        "meets_target": scaling is not None and scaling >= TARGET_RATIO
        and not two["errors"]["status"],
        "baseline": baseline["requests_per_s"],
        "baseline_name": "nginx in front of the bare ASGI app (204), same wrk load",
        "ratio": common.ratio(two_rps, baseline["requests_per_s"]),
        "one_node_without_nats": single["requests_per_s"],
        "multinode_cost_ratio": common.ratio(one_rps, single["requests_per_s"]),
        "details": {"one_node": one, "two_nodes": two, "bare_behind_nginx": baseline,
                    "one_node_without_nats": single},
        "entities": N_ENTITIES,
        "setup_load_s": round(load_s, 3),
        "machine": common.machine_info(),
    }


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
