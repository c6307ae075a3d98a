"""Settings from `SMSGW_*` environment variables; CLI flags override them. Defaults serve one machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///smsgw.db"
DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_SMSC = "simulator"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    listen: str = DEFAULT_LISTEN
    smsc: str = DEFAULT_SMSC
    workers: int = 2  # HTTP server processes
    max_request_bytes: int = 8 * 1024 * 1024
    tls_cert: str | None = None  # with tls_key: serve HTTPS ourselves and ask clients for certificates (see tls.py)
    tls_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("SMSGW_DATABASE_URL", DEFAULT_DATABASE_URL),
            listen=env.get("SMSGW_LISTEN", DEFAULT_LISTEN),
            smsc=env.get("SMSGW_SMSC", DEFAULT_SMSC),
            workers=_positive(env, "SMSGW_WORKERS", 2),
            max_request_bytes=_positive(env, "SMSGW_MAX_REQUEST_BYTES", 8 * 1024 * 1024),
            tls_cert=env.get("SMSGW_TLS_CERT") or None,
            tls_key=env.get("SMSGW_TLS_KEY") or None,
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) → (host, port), with a clear error for anything else."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen address must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
