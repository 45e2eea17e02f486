"""The API over HTTP against real parts: the stack's Redis (through the Upstash REST proxy,
as on Vercel), MongoDB, a real matcher (serving Socket.IO too), and the api/ functions on
the project's dispatcher (gunicorn). The packages that use it (tests/api, tests/realtime)
get one such server each (`running_api`); each test makes accounts of its own.

Symbols: 80 of them (the issue's "many symbols"), ACME first, so every test runs with a
realistic configuration rather than a toy one.

`running_vercel_dev` serves the same functions through the real `vercel dev --local`
(devstack/vercel.py, as `make run` starts it) from a symlink copy of the project, against
the same stack and matcher: tests/api/test_vercel.py (parity with the dispatcher) and
tests/web (the trading page in a browser) use it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from devstack import Stack, vercel
from devstack.process import ManagedProcess, free_port
from devstack.services import api_dispatcher
from lib import accounts
from matcher.service.store import journal_db_name
from tests.service.harness import MatcherProcess, ServiceEnv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = ",".join(["ACME", "GLOBEX:0.05", "INITECH:1:5000", *(f"S{i:02d}" for i in range(77))])
REPLY_TIMEOUT_MS = 3000


@dataclass
class Api:
    url: str
    env: ServiceEnv
    matcher: MatcherProcess
    server: ManagedProcess
    environ: dict[str, str]
    realtime_url: str = ""  # where Socket.IO is served: the matcher's HTTP port
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, api_key: str | None = None, **headers: str) -> httpx.Client:
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def new_account(self, prefix: str = "acct") -> tuple[str, str]:
        """A fresh account and its API key."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        db = self.env.db()
        accounts.create_account(db, name)
        key = accounts.create_key(db, name).api_key
        db.client.close()
        return name, key

    def trader(self, prefix: str = "acct") -> httpx.Client:
        return self.client(self.new_account(prefix)[1])

    def close(self) -> None:
        for client in self._clients:
            client.close()


def running_api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    direct = redis.Redis.from_url(stack.redis_url)
    direct.flushdb()
    direct.close()
    log_dir = tmp_path_factory.mktemp("api-logs")
    env = ServiceEnv(stack.redis_url, stack.mongodb_uri, f"t_{uuid.uuid4().hex[:12]}", log_dir)
    environ = env.environ(
        SBS_SYMBOLS=SYMBOLS,
        UPSTASH_REDIS_REST_URL=stack.upstash_url,
        UPSTASH_REDIS_REST_TOKEN=stack.upstash_token,
        SBS_REPLY_TIMEOUT_MS=str(REPLY_TIMEOUT_MS),
    )
    matcher = env.matcher(SBS_SYMBOLS=SYMBOLS).start()
    port = free_port()
    server = api_dispatcher(port, environ, Path(log_dir))
    server.start()
    api = Api(f"http://127.0.0.1:{port}", env, matcher, server, environ)
    api.realtime_url = f"http://127.0.0.1:{matcher.port}"
    try:
        yield api
    finally:
        api.close()
        server.stop()
        matcher.process.stop()
        mongo = env.db().client
        mongo.drop_database(env.db_name)
        mongo.drop_database(journal_db_name(env.db_name))
        mongo.close()


# --- the same functions under `vercel dev --local` -------------------------------------

# Not linked into a copy: the copy has its own `.env` and `.vercel/` (builds, config), and
# nothing of the developer's running stack.
NOT_LINKED = frozenset({".env", ".env.partial", ".vercel", ".devstack"})
LEFT_OVER_GRACE_S = 10.0


@dataclass
class VercelApi:
    url: str
    root: Path
    process: vercel.VercelDev
    messages: list[str]


def symlink_copy(destination: Path, skip: Iterable[str] = ()) -> Path:
    """The project as links (one per top-level entry, less NOT_LINKED and `skip`), with no
    `.env` of its own yet."""
    destination.mkdir(parents=True, exist_ok=True)
    left_out = NOT_LINKED | set(skip)
    for entry in PROJECT_ROOT.iterdir():
        if entry.name not in left_out:
            (destination / entry.name).symlink_to(entry)
    return destination


def running_vercel_dev(
    api: Api, tmp_path_factory: pytest.TempPathFactory, root: Path | None = None, **environ: str
) -> Iterator[VercelApi]:
    """`vercel dev --local` serving `root` (default: a fresh symlink copy of the project)
    with `api`'s environment plus `environ`: started (ready, every function built and
    warm), yielded, stopped; afterwards nothing of the CLI may be left running."""
    assert vercel.missing() is None, vercel.missing()
    if root is None:
        root = symlink_copy(tmp_path_factory.mktemp("vercel-root") / "project")
    logs = tmp_path_factory.mktemp("vercel-logs")
    messages: list[str] = []
    process = vercel.VercelDev(
        root,
        free_port(),
        {**api.environ, **environ},
        logs / "vercel.log",
        logs / "global",
        say=messages.append,
    )
    process.start()  # ready (GET /api/health answers), then every function built and warm
    pgid = process.pid
    try:
        yield VercelApi(process.url, root, process, messages)
    finally:
        process.stop()
    # Nothing of the CLI is left: not its builder workers, not a paused Python worker. (The
    # group was sent SIGKILL; a dying process may take a moment, and a zombie is not
    # running - it waits for init to reap it.)
    assert pgid is not None
    deadline = time.monotonic() + LEFT_OVER_GRACE_S
    while (left := _running_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], left


def _running_in_group(pgid: int) -> list[dict[str, object]]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process.info)
        except OSError:
            continue
    return found
