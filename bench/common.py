"""Shared benchmark plumbing: server subprocesses on temporary databases, wrk runs with
JSON output, a small HTTP client, dataset generation and percentile functions.

Every load generated here targets 127.0.0.1 only and is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
PORT_RANGE = range(18000, 18101)
API = "/ngsi-ld/v1"
DEFAULT_CONTEXT = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION_IRI = "https://uri.etsi.org/ngsi-ld/location"
ENTITY_TYPE = "Sensor"
ENTITY_PREFIX = "urn:ngsi-ld:Sensor:kaga-"
# Kaga City, Ishikawa: the box the geo scenario spreads its points over.
KAGA_LON = (136.24, 136.50)
KAGA_LAT = (36.13, 36.38)
WRK_DURATION_S = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
WRK_CONNECTIONS = 32
WRK_THREADS = 1  # two cores shared with the server: one wrk thread is enough to saturate it
SEED = 20240601

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LUA_DIR = BENCH_DIR / "lua"

Json = dict[str, Any]


# ------------------------------------------------------------------ statistics

def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(samples_s: Sequence[float]) -> Json:
    """p50/p95/p99/mean/max in milliseconds of latencies given in seconds."""
    ms = [s * 1000.0 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3) if ms else math.nan,
        "max_ms": round(max(ms), 3) if ms else math.nan,
    }


def ratio(value: float, baseline: float) -> float | None:
    return round(value / baseline, 4) if baseline else None


def timed_samples(work: Callable[[], object], *, max_n: int, max_seconds: float,
                  min_n: int = 5, warmup: int = 1) -> list[float]:
    """Run `work` sequentially (after `warmup` untimed runs) until `max_n` samples, or
    `max_seconds` elapsed and at least `min_n` samples; return the durations in seconds."""
    for _ in range(warmup):
        work()
    samples: list[float] = []
    deadline = time.perf_counter() + max_seconds
    while len(samples) < max_n and (len(samples) < min_n or time.perf_counter() < deadline):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return samples


# ------------------------------------------------------------------ machine facts

def median_of_rounds(prefix: str, rounds: int,
                     one_round: Callable[[Path], Awaitable[dict[str, float]]]
                     ) -> dict[str, float]:
    """Run `one_round` in a fresh directory `rounds` times (each in its own event loop);
    the median of each figure, rounded to 0.1."""
    runs = []
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        for round_no in range(rounds):
            run_dir = Path(directory) / str(round_no)
            run_dir.mkdir()
            runs.append(asyncio.run(one_round(run_dir)))
    return {key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}


def machine_info() -> Json:
    import platform
    import sqlite3

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib: float | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    return {
        "loadavg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": mem_gib,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version(),
    }


def wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    proc = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return out[0] if out else None


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ ports and servers

def free_port() -> int:
    """A free TCP port on 127.0.0.1 within PORT_RANGE (random start, to avoid collisions
    between concurrent benchmark runs)."""
    ports = list(PORT_RANGE)
    random.SystemRandom().shuffle(ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")


@dataclass
class Server:
    """A running HTTP server subprocess."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    db_path: Path | None = None
    log_path: Path | None = None
    extra: Json = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log_path.read_text() if server.log_path else ""
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}: {log}")
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if 200 <= status < 300:
                return
            last_error = f"status {status}"
        except OSError as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout}s: {last_error}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def cityos_command(port: int, db_path: Path, database_url: str | None = None) -> list[str]:
    """Exactly what `cityos serve` runs (the CLI entry point, module form), on the SQLite
    file `db_path` unless a `database_url` is given. Development mode comes from
    CITYOS_DEV (see cityos_server)."""
    return [sys.executable, "-m", "cityos", "serve", "--port", str(port),
            "--database", database_url or f"sqlite:///{db_path}"]


@contextlib.contextmanager
def cityos_server(workdir: Path | None = None, wrap: Sequence[str] = (),
                  db_source: Path | None = None,
                  extra_env: dict[str, str] | None = None,
                  database_url: str | None = None, dev: bool = True) -> Iterator[Server]:
    """Start `cityos serve` on a fresh SQLite file (or a copy of `db_source`, or the
    database `database_url`) in a temporary directory, with `extra_env` settings; stop it
    and delete the directory afterwards. `wrap` prefixes the command (e.g. a profiler).
    `dev`: development mode (security off), as the API scenarios are measured;
    bench.authorization_overhead compares it with security on."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cityos-b-")))
        port = free_port()
        db_path = workdir / "bench.db"
        if db_source is not None:
            copy_db(db_source, db_path)
        log_path = workdir / "server.log"
        env = {**os.environ, "CITYOS_LOG_LEVEL": "warning", "CITYOS_DEMO": "false",
               "CITYOS_DEV": "true" if dev else "false", **(extra_env or {})}
        log = stack.enter_context(log_path.open("wb"))
        process = subprocess.Popen([*wrap, *cityos_command(port, db_path, database_url)],
                                   stdout=log,
                                   stderr=subprocess.STDOUT, env=env, cwd=workdir)
        server = Server("cityos", port, process, workdir, db_path, log_path)
        try:
            _wait_ready(server, "/health")
            yield server
        finally:
            _stop(process)


@contextlib.contextmanager
def bare_server() -> Iterator[Server]:
    """The bare ASGI baseline (bench.bare_asgi) under the same uvicorn settings."""
    with tempfile.TemporaryDirectory(prefix="cityos-bare-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.bare_asgi", "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
            server = Server("bare-asgi", port, process, workdir, None, log_path)
            try:
                _wait_ready(server, "/health")
                yield server
            finally:
                _stop(process)


# ------------------------------------------------------------------ HTTP client

class Client:
    """A tiny keep-alive HTTP/1.1 client (stdlib) for setup and sequential latency runs."""

    def __init__(self, port: int, timeout: float = 120.0,
                 headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.timeout = timeout
        self.headers = dict(headers or {})  # sent with every request (e.g. an API key)
        self._conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method: str, path: str, body: object = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data: bytes | None = None
        hdrs = {**self.headers, **(headers or {})}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            self._conn.request(method, path, body=data, headers=hdrs)
            resp = self._conn.getresponse()
        except (http.client.HTTPException, OSError):
            self._conn.close()
            self._conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            self._conn.request(method, path, body=data, headers=hdrs)
            resp = self._conn.getresponse()
        payload = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload

    def close(self) -> None:
        self._conn.close()


# ------------------------------------------------------------------ dataset

def entity_id(i: int) -> str:
    return f"{ENTITY_PREFIX}{i:06d}"


def kaga_points(n: int, seed: int = SEED) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(round(rng.uniform(*KAGA_LON), 6), round(rng.uniform(*KAGA_LAT), 6))
            for _ in range(n)]


def make_entity(i: int, point: tuple[float, float], *, generation: int = 0) -> Json:
    """One sensor: `count` = i (so `count==12345` selects one entity, `count>50000` half of
    100,000), a name, a status and a Point location."""
    return {
        "id": entity_id(i),
        "type": ENTITY_TYPE,
        "count": {"type": "Property", "value": i + generation},
        "name": {"type": "Property", "value": f"Kaga sensor {i}"},
        "status": {"type": "Property", "value": "ok" if i % 10 else "maintenance"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [point[0], point[1]]}},
    }


def batches(items: Sequence[Json], size: int = 1000) -> Iterator[Sequence[Json]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def upsert_all(client: Client, entities: Sequence[Json], size: int = 1000) -> list[float]:
    """POST /entityOperations/upsert in batches of `size`; return each request's seconds.
    Raises on any non-2xx answer."""
    durations: list[float] = []
    for batch in batches(entities, size):
        body = json.dumps(batch).encode()
        start = time.perf_counter()
        status, _, payload = client.request("POST", API + "/entityOperations/upsert", body)
        durations.append(time.perf_counter() - start)
        if status not in (200, 201, 204):
            raise RuntimeError(f"upsert failed with {status}: {payload[:500]!r}")
    return durations


def load_entities(port: int, n: int,
                  headers: dict[str, str] | None = None) -> tuple[list[Json], float]:
    """Create entities 0..n-1 (Kaga points) through batch upsert; return them and seconds."""
    entities = [make_entity(i, p) for i, p in enumerate(kaga_points(n))]
    client = Client(port, headers=headers)
    try:
        start = time.perf_counter()
        upsert_all(client, entities)
        return entities, time.perf_counter() - start
    finally:
        client.close()


# ------------------------------------------------------------------ wrk

def run_wrk(url: str, script: Path, *, duration_s: int = WRK_DURATION_S,
            connections: int = WRK_CONNECTIONS, threads: int = WRK_THREADS,
            env: dict[str, str] | None = None) -> Json:
    """Run wrk with a Lua script whose `done` hook prints one `BENCH_JSON {...}` line
    (bench/lua/report.lua); return that object plus requests/s."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s}s",
           "--timeout", "10s", "-s", str(script), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, cwd=LUA_DIR,
                          timeout=duration_s + 60)
    report: Json | None = None
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            report = json.loads(line.removeprefix("BENCH_JSON "))
    if proc.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    secs = report["duration_us"] / 1e6
    report["requests_per_s"] = round(report["requests"] / secs, 1) if secs else 0.0
    errors = report["errors"]
    report["non_2xx_or_socket_errors"] = sum(errors.values())
    report["connections"] = connections
    report["threads"] = threads
    report["duration_s"] = duration_s
    return report


def wrk_summary(report: Json) -> Json:
    """The figures worth keeping from a wrk report."""
    lat = report["latency_us"]
    return {
        "requests_per_s": report["requests_per_s"],
        "requests": report["requests"],
        "errors": report["errors"],
        "latency_ms": {k: round(v / 1000.0, 3) for k, v in lat.items()},
        "connections": report["connections"],
        "threads": report["threads"],
        "duration_s": report["duration_s"],
    }


def server_note() -> str:
    return ("cityos serve: one uvicorn process (uvloop + httptools when installed), "
            "log_level=warning, access_log off; SQLite WAL, one writer thread")


def emit(result: Json) -> None:
    print(json.dumps(result, indent=2))


def json_loads(raw: str | bytes) -> Any:
    return json.loads(raw)


def copy_db(source: Path, target: Path) -> None:
    """Copy an SQLite file with its WAL side files, if any."""
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(source) + suffix)
        if src.exists():
            shutil.copyfile(src, Path(str(target) + suffix))


# ------------------------------------------------------------------ shared large dataset

LARGE_N = int(os.environ.get("BENCH_LARGE_ENTITIES", "100000"))
_DATASETS: dict[int, Path] = {}
_DATASET_DIR: tempfile.TemporaryDirectory[str] | None = None


def _dataset_dir() -> Path:
    global _DATASET_DIR
    if _DATASET_DIR is None:
        _DATASET_DIR = tempfile.TemporaryDirectory(prefix="cityos-bench-data-")
    return Path(_DATASET_DIR.name)


def register_dataset(n: int, db_path: Path) -> None:
    """Keep a copy of a database holding entities 0..n-1 (make_entity) for later scenarios
    of the same process (bench.run_all loads the 100,000 entities once)."""
    target = _dataset_dir() / f"kaga-{n}.db"
    copy_db(db_path, target)
    _DATASETS[n] = target


def dataset(n: int) -> tuple[Path, float | None]:
    """A database with entities 0..n-1, loaded through the batch upsert endpoint unless this
    process already has one; returns its path and the load seconds (None when reused)."""
    if n in _DATASETS:
        return _DATASETS[n], None
    with cityos_server() as server:
        _, seconds = load_entities(server.port, n)
        stop_server(server)
        assert server.db_path is not None
        register_dataset(n, server.db_path)
    return _DATASETS[n], seconds


def stop_server(server: Server) -> None:
    _stop(server.process)
