"""Supervision: a service stops and starts again on the same port with its data; nothing
outlives the stack, not even when the process that started it is killed.

These tests start private stacks, so stopping services never disturbs the session stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pymongo
import pytest
import redis

from devstack import ManagedProcess, ServiceError, Stack, start_stack
from devstack.process import accepts_tcp, port_is_free

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("supervised"), environ={}) as stack:
        yield stack


def _handle(service: ManagedProcess | None) -> ManagedProcess:
    assert service is not None, "the stack started this service itself"
    return service


def test_redis_restarts_on_the_same_port_with_its_data(own_stack: Stack) -> None:
    server = _handle(own_stack.redis)
    client = redis.Redis.from_url(own_stack.redis_url, decode_responses=True)
    client.set("survives", "graceful stop")
    port, first_pid = server.port, server.pid
    assert server.stop() == 0
    assert server.port is not None and not accepts_tcp(server.port)
    server.start()
    assert (server.port, server.url) == (port, own_stack.redis_url)
    assert server.pid != first_pid
    assert client.get("survives") == "graceful stop"  # the same client object reconnects
    assert any((server.data_dir or Path()).rglob("*.aof"))
    client.close()


def test_redis_keeps_writes_older_than_a_second_through_a_crash(own_stack: Stack) -> None:
    server = _handle(own_stack.redis)
    client = redis.Redis.from_url(own_stack.redis_url, decode_responses=True)
    client.set("survives", "a crash")
    time.sleep(1.5)  # appendfsync everysec: on disk within about a second
    server.stop(grace=0)  # SIGKILL: no chance to flush anything
    server.start()
    assert client.get("survives") == "a crash"
    client.close()


def test_mongodb_restarts_on_the_same_port_with_its_data(own_stack: Stack) -> None:
    server = _handle(own_stack.mongodb)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        own_stack.mongodb_uri, serverSelectionTimeoutMS=3000
    )
    client.sbs.orders.insert_one({"_id": "o1", "status": "open"})
    port = server.port
    server.stop()
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        pymongo.MongoClient(own_stack.mongodb_uri, serverSelectionTimeoutMS=300).admin.command(
            "ping"
        )
    server.start()
    assert server.port == port
    # The client that saw the outage carries on, and the document is still there.
    assert client.sbs.orders.find_one({"_id": "o1"}) == {"_id": "o1", "status": "open"}
    client.close()


def test_the_proxy_answers_503_during_a_redis_outage_then_recovers(own_stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {own_stack.upstash_token}"}
    with httpx.Client(base_url=own_stack.upstash_url, headers=headers, timeout=10) as http:
        assert http.post("/", json=["SET", "k", "before"]).json() == {"result": "OK"}
        server = _handle(own_stack.redis)
        server.stop()
        try:
            outage = http.post("/", json=["GET", "k"])
            assert outage.status_code == 503
            assert "unreachable" in outage.json()["error"]
        finally:
            server.start()
        # Pooled connections to the old process are replaced, not reused.
        assert http.post("/", json=["GET", "k"]).json() == {"result": "before"}


def test_a_port_left_in_time_wait_is_free_for_the_next_run(own_stack: Stack) -> None:
    # The proxy closes kept-alive connections when it stops, so its side sits in TIME_WAIT
    # for a minute; `make run` right after the last one must still get the same port.
    proxy = _handle(own_stack.upstash_proxy)
    headers = {"Authorization": f"Bearer {own_stack.upstash_token}"}
    with httpx.Client(base_url=own_stack.upstash_url, headers=headers, timeout=10) as http:
        assert http.post("/", json=["PING"]).json() == {"result": "PONG"}
        proxy.stop()
        assert proxy.port is not None and port_is_free(proxy.port)
        proxy.start()
        assert http.post("/", json=["PING"]).json() == {"result": "PONG"}


def test_starting_a_running_service_is_refused(own_stack: Stack) -> None:
    server = _handle(own_stack.redis)
    with pytest.raises(ServiceError, match="already running"):
        server.start()
    assert server.running


def test_a_service_that_dies_while_starting_says_why(tmp_path: Path) -> None:
    doomed = ManagedProcess(
        "doomed",
        [sys.executable, "-c", "print('cannot open the data dir'); raise SystemExit(3)"],
        log_path=tmp_path / "doomed.log",
        ready=lambda: False,
    )
    with pytest.raises(ServiceError, match=r"(?s)status 3.*cannot open the data dir"):
        doomed.start()
    assert not doomed.running
    assert doomed.stop() is None


def test_leaving_the_stack_leaves_no_process_behind(tmp_path: Path) -> None:
    with start_stack(tmp_path, environ={}) as stack:
        ports = [p.port for p in stack.processes if p.port is not None]
        started = [psutil.Process(p.pid) for p in stack.processes if p.pid is not None]
        family = started + [child for p in started for child in p.children(recursive=True)]
        assert len(started) == 3
    _, alive = psutil.wait_procs(family, timeout=5)
    assert alive == []
    assert not any(accepts_tcp(port) for port in ports)


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    # The parent is SIGKILLed: no atexit, no cleanup, only PR_SET_PDEATHSIG is left.
    script = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        from devstack import start_stack
        stack = start_stack(Path({str(tmp_path)!r}), environ={{}})
        print(json.dumps([p.pid for p in stack.processes]), flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        children = [psutil.Process(pid) for pid in pids]
        assert len(children) == 3 and all(child.is_running() for child in children)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []


def test_services_from_the_environment_are_used_not_started(stack: Stack, tmp_path: Path) -> None:
    given = {"REDIS_URL": stack.redis_url, "MONGODB_URI": stack.mongodb_uri}
    with start_stack(tmp_path, environ=given) as partial:
        assert (partial.redis, partial.mongodb) == (None, None)
        assert [p.name for p in partial.processes] == ["upstash-proxy"]
        assert partial.env()["REDIS_URL"] == stack.redis_url
        # The proxy it did start fronts the given Redis.
        headers = {"Authorization": f"Bearer {partial.upstash_token}"}
        with httpx.Client(base_url=partial.upstash_url, headers=headers, timeout=10) as http:
            assert http.post("/", json=["SET", "given:redis", "yes"]).json() == {"result": "OK"}
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        assert client.get("given:redis") == "yes"


def test_upstash_without_redis_url_is_warned_about(tmp_path: Path) -> None:
    upstash = {"UPSTASH_REDIS_REST_URL": "https://example.upstash.io",
               "UPSTASH_REDIS_REST_TOKEN": "token"}  # fmt: skip
    said: list[str] = []
    with start_stack(tmp_path, environ=upstash, say=said.append) as partial:
        assert partial.upstash_proxy is None
        assert partial.env()["UPSTASH_REDIS_REST_URL"] == "https://example.upstash.io"
    assert any("REDIS_URL is not set" in line for line in said), said
