"""The API over HTTP against real parts: the stack's Redis (through the Upstash REST proxy,
as on Vercel), MongoDB, a real matcher (serving Socket.IO too), and the api/ functions on
the project's dispatcher (gunicorn). The packages that use it (tests/api, tests/realtime)
get one such server each (`running_api`); each test makes accounts of its own.

Symbols: 80 of them (the issue's "many symbols"), ACME first, so every test runs with a
realistic configuration rather than a toy one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from devstack import Stack
from devstack.process import ManagedProcess, free_port
from devstack.services import api_dispatcher
from lib import accounts
from matcher.service.store import journal_db_name
from tests.service.harness import MatcherProcess, ServiceEnv

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
