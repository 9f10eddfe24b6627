"""Settings: one typed object read from CITYOS_* environment variables and an optional TOML
file (CITYOS_CONFIG). Every field is documented in docs/configuration.md; a test checks that."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "CITYOS_"


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"doc": "Address to listen on."})
    port: int = field(default=1026, metadata={"doc": "TCP port (1026, as other NGSI-LD "
                                                     "brokers use)."})
    database_url: str = field(default="sqlite:///var/cityos.db",
                              metadata={"doc": "sqlite:///PATH: the embedded database file "
                                               "(the PostgreSQL backend is not built yet)."})
    sqlite_synchronous: str = field(default="NORMAL", metadata={
        "doc": "NORMAL: a committed write survives a crash of the process; FULL: it also "
               "survives an OS crash or power loss, at a cost in write throughput."})
    base_url: str = field(default="", metadata={
        "doc": "Public URL of this server, used in links to hosted @contexts; default "
               "http://HOST:PORT."})
    max_body_bytes: int = field(default=1_048_576, metadata={
        "doc": "Largest accepted request body in bytes; larger bodies get 413."})
    context_fetch_timeout: float = field(default=5.0, metadata={
        "doc": "Seconds to wait for a remote @context before answering 504 LdContextNotAvailable."})
    context_max_bytes: int = field(default=1_048_576, metadata={
        "doc": "Largest remote @context document accepted, in bytes."})
    transient_sweep_interval: float = field(default=1.0, metadata={
        "doc": "Seconds between sweeps that delete expired transient entities and "
               "attribute instances (expiresAt); reads hide them at once regardless. "
               "0 turns the sweeper off."})
    context_mirrors: str = field(default="", metadata={
        "doc": "Serve remote @contexts from a local mirror: comma-separated "
               "PREFIX=LOCAL_PREFIX pairs, e.g. https://example.org/ctx/=http://127.0.0.1:8099/"
               ". Requests keep the original URL."})
    demo: bool = field(default=False, metadata={
        "doc": "Load the Kaga demo data (shelters) at start; entities already there are "
               "kept as they are."})
    log_level: str = field(default="info", metadata={"doc": "debug, info, warning or error."})

    @property
    def sqlite_path(self) -> str | None:
        if self.database_url.startswith("sqlite:///"):
            return self.database_url.removeprefix("sqlite:///")
        return None

    @property
    def context_mirror_map(self) -> dict[str, str]:
        pairs = [p.split("=", 1) for p in self.context_mirrors.split(",") if "=" in p]
        return {prefix.strip(): local.strip() for prefix, local in pairs}

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    if kind in (bool, "bool"):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return str(raw)


def load_settings(overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Defaults < TOML file (CITYOS_CONFIG) < environment < explicit overrides (CLI flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        values.update(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
    for f in fields(Settings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name: f.type for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    typed = {k: _coerce(k, v, known[k]) for k, v in values.items()}
    return replace(Settings(), **typed)


def documented_settings() -> list[tuple[str, str]]:
    return [(ENV_PREFIX + f.name.upper(), f.metadata["doc"]) for f in fields(Settings)]
