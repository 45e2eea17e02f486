"""The local stack as one object: Redis, MongoDB, the Upstash REST proxy, then app processes.

    with start_stack(base_dir) as stack:          # free ports, data and logs under base_dir
        env = {**os.environ, **stack.env()}       # what child processes need to find them
        stack.redis.stop(); stack.redis.start()   # same port, same data: an outage drill

A service the caller's environment already provides (REDIS_URL, MONGODB_URI, both
UPSTASH_REDIS_REST_* variables) is used as it is and not started; its handle is None.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from devstack import ferretdb, services
from devstack.process import ManagedProcess, free_port


@dataclass(frozen=True)
class StackPorts:
    """Ports to listen on; 0 picks a free one."""

    redis: int = 0
    mongodb: int = 0
    upstash: int = 0


class Stack:
    """Started services, stopped in reverse order by `stop()` or leaving the `with` block."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.log_dir = base_dir / "logs"
        self.redis: ManagedProcess | None = None
        self.mongodb: ManagedProcess | None = None
        self.upstash_proxy: ManagedProcess | None = None
        self.redis_url = ""
        self.mongodb_uri = ""
        self.mongodb_server = ""  # what serves MONGODB_URI, for people reading the output
        self.upstash_url = ""
        self.upstash_token = ""
        self.processes: list[ManagedProcess] = []  # in start order

    def add(self, process: ManagedProcess) -> ManagedProcess:
        """Start `process` and stop it with the stack."""
        process.start()
        self.processes.append(process)
        return process

    def env(self) -> dict[str, str]:
        """Environment variables that point a child process (matcher, API) at this stack."""
        return {
            "REDIS_URL": self.redis_url,
            "MONGODB_URI": self.mongodb_uri,
            "UPSTASH_REDIS_REST_URL": self.upstash_url,
            "UPSTASH_REDIS_REST_TOKEN": self.upstash_token,
        }

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_stack(
    base_dir: Path,
    ports: StackPorts = StackPorts(),  # frozen: a shared default is safe
    *,
    environ: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Stack:
    """Start every service `environ` (default: os.environ) does not already provide."""
    env = os.environ if environ is None else environ
    stack = Stack(base_dir)
    try:
        _start_redis(stack, env, ports.redis)
        _start_mongodb(stack, env, ports.mongodb, say)
        _start_upstash_proxy(stack, env, ports.upstash)
    except BaseException:
        stack.stop()
        raise
    if stack.redis is not None and stack.upstash_proxy is None:
        say(
            "devstack: warning: UPSTASH_REDIS_REST_* point at your Upstash database but "
            "REDIS_URL is not set, so the matcher gets a local Redis: the API and the matcher "
            "would not share commands. Set REDIS_URL to the same database's redis(s):// URL."
        )
    return stack


def _start_redis(stack: Stack, env: Mapping[str, str], port: int) -> None:
    if env.get("REDIS_URL"):
        stack.redis_url = env["REDIS_URL"]
        return
    stack.redis = stack.add(
        services.redis_server(port or free_port(), stack.base_dir / "data" / "redis", stack.log_dir)
    )
    stack.redis_url = stack.redis.url


def _start_mongodb(
    stack: Stack, env: Mapping[str, str], port: int, say: Callable[[str], None]
) -> None:
    if env.get("MONGODB_URI"):
        stack.mongodb_uri, stack.mongodb_server = env["MONGODB_URI"], "MONGODB_URI"
        return
    port = port or free_port()
    mongod = ferretdb.find_mongod()
    if mongod is not None:
        server = services.mongod_server(
            mongod, port, stack.base_dir / "data" / "mongod", stack.log_dir
        )
        stack.mongodb_server = f"mongod ({mongod})"
    else:
        binary = ferretdb.ferretdb_binary(say)
        server = services.ferretdb_server(
            binary, port, stack.base_dir / "data" / "ferretdb", stack.log_dir
        )
        stack.mongodb_server = f"FerretDB {ferretdb.FERRETDB_VERSION} on SQLite"
    stack.mongodb = stack.add(server)
    stack.mongodb_uri = server.url


def _start_upstash_proxy(stack: Stack, env: Mapping[str, str], port: int) -> None:
    if env.get("UPSTASH_REDIS_REST_URL") and env.get("UPSTASH_REDIS_REST_TOKEN"):
        stack.upstash_url = env["UPSTASH_REDIS_REST_URL"]
        stack.upstash_token = env["UPSTASH_REDIS_REST_TOKEN"]
        return
    stack.upstash_token = secrets.token_urlsafe(24)
    stack.upstash_proxy = stack.add(
        services.upstash_proxy(
            port or free_port(), stack.redis_url, stack.upstash_token, stack.log_dir
        )
    )
    stack.upstash_url = stack.upstash_proxy.url
