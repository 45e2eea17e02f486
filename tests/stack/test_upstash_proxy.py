"""The Upstash REST proxy, driven by the production SDK (sync and async) and by raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import inspect
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from upstash_redis import Redis as SyncRedis
from upstash_redis.asyncio import Redis as AsyncRedis
from upstash_redis.errors import UpstashError


class Sdk:
    """One SDK client, sync or async; `run()` gives a call's result either way."""

    def __init__(self, url: str, token: str, flavour: str, encoding: str | None) -> None:
        options: dict[str, Any] = {"rest_encoding": encoding, "rest_retries": 0}
        self.flavour = flavour
        self.loop = asyncio.new_event_loop()
        self.client: Any = (SyncRedis if flavour == "sync" else AsyncRedis)(url, token, **options)

    def run(self, value: Any) -> Any:
        return self.loop.run_until_complete(value) if inspect.isawaitable(value) else value

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def sdk(request: pytest.FixtureRequest, upstash_url: str, upstash_token: str) -> Iterator[Sdk]:
    client = Sdk(upstash_url, upstash_token, request.param, "base64")
    yield client
    client.close()


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex[:10]}"


@pytest.fixture
def direct(redis_url: str) -> Iterator[redis.Redis]:
    """The same Redis over TCP, to check what the proxy really did."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as connection:
        yield connection


def test_set_get_with_expiry_and_nx(sdk: Sdk, key: str, direct: redis.Redis) -> None:
    assert sdk.run(sdk.client.set(key, "v1", ex=100)) is True
    assert sdk.run(sdk.client.get(key)) == "v1"
    assert 90 < direct.ttl(key) <= 100
    assert sdk.run(sdk.client.set(key, "v2", nx=True)) is False  # exists: not overwritten
    assert sdk.run(sdk.client.get(key)) == "v1"
    assert sdk.run(sdk.client.set(f"{key}:new", "n", nx=True, px=150)) is True
    assert 0 < direct.pttl(f"{key}:new") <= 150
    time.sleep(0.3)
    assert sdk.run(sdk.client.get(f"{key}:new")) is None  # expired for real


def test_xadd_reaches_the_stream(sdk: Sdk, key: str, direct: redis.Redis) -> None:
    entry_id = sdk.run(sdk.client.xadd(key, "*", {"command_id": "c1", "price": "101.25"}))
    assert re.fullmatch(r"\d+-\d+", entry_id)
    assert direct.xrange(key) == [(entry_id, {"command_id": "c1", "price": "101.25"})]


def test_eval_with_keys_and_args(sdk: Sdk, key: str, direct: redis.Redis) -> None:
    script = """
        redis.call('SET', KEYS[1], ARGV[1])
        return {redis.call('GET', KEYS[1]), tonumber(ARGV[2]) + 1, KEYS[2]}
    """
    result = sdk.run(sdk.client.eval(script, keys=[key, "second"], args=["stored", 41]))
    assert result == ["stored", 42, "second"]
    assert direct.get(key) == "stored"
    with pytest.raises(UpstashError, match="a nil value"):
        sdk.run(sdk.client.eval("return redis.call_missing()", keys=[], args=[]))


def test_pipeline_runs_every_command_in_order(sdk: Sdk, key: str, direct: redis.Redis) -> None:
    pipe = sdk.client.pipeline()
    pipe.set(key, "1")
    pipe.incr(key)
    pipe.get(key)
    pipe.expire(key, 60)
    assert sdk.run(pipe.exec()) == [True, 2, "2", True]
    assert direct.get(key) == "2"


def test_a_failed_pipeline_command_does_not_stop_the_rest(
    sdk: Sdk, key: str, direct: redis.Redis
) -> None:
    pipe = sdk.client.pipeline()
    pipe.set(key, "text")
    pipe.incr(key)  # fails: not an integer
    pipe.set(f"{key}:after", "ran")
    with pytest.raises(UpstashError, match="not an integer"):
        sdk.run(pipe.exec())
    assert direct.get(f"{key}:after") == "ran"


def test_multi_exec_is_one_transaction(sdk: Sdk, key: str, direct: redis.Redis) -> None:
    tx = sdk.client.multi()
    tx.incr(key)
    tx.incrby(key, 10)
    tx.get(key)
    assert sdk.run(tx.exec()) == [1, 11, "11"]
    assert direct.get(key) == "11"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_plain_encoding_gives_the_same_results(
    flavour: str, upstash_url: str, upstash_token: str, key: str
) -> None:
    plain = Sdk(upstash_url, upstash_token, flavour, encoding=None)
    try:
        assert plain.run(plain.client.set(key, "héllo wörld")) is True
        assert plain.run(plain.client.get(key)) == "héllo wörld"
        assert plain.run(plain.client.incr(f"{key}:n")) == 1
        assert plain.run(plain.client.ping()) == "PONG"
    finally:
        plain.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_bad_token_is_refused(flavour: str, upstash_url: str, key: str) -> None:
    intruder = Sdk(upstash_url, "wrong-token", flavour, "base64")
    try:
        with pytest.raises(UpstashError, match="Unauthorized"):
            intruder.run(intruder.client.set(key, "x"))
    finally:
        intruder.close()


_BLOCKING_COMMANDS = [
    ["BLPOP", "{key}", "0"],
    ["BRPOP", "{key}", "1"],
    ["BRPOPLPUSH", "{key}", "{key}:to", "1"],
    ["BLMOVE", "{key}", "{key}:to", "LEFT", "RIGHT", "1"],
    ["BLMPOP", "1", "1", "{key}", "LEFT"],
    ["BZPOPMIN", "{key}", "1"],
    ["BZPOPMAX", "{key}", "1"],
    ["XREAD", "BLOCK", "100", "STREAMS", "{key}", "$"],
    ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "BLOCK", "100", "STREAMS", "{key}", ">"],
    ["WAIT", "0", "0"],
    ["SUBSCRIBE", "{key}"],
    ["PSUBSCRIBE", "{key}*"],
]


@pytest.mark.parametrize("template", _BLOCKING_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_blocking_commands_are_refused(sdk: Sdk, key: str, template: list[str]) -> None:
    command = [arg.replace("{key}", key) for arg in template]
    with pytest.raises(UpstashError, match=f"blocking command {command[0]} is not supported"):
        sdk.run(sdk.client.execute(command))


def test_non_blocking_stream_reads_are_served(sdk: Sdk, key: str, direct: redis.Redis) -> None:
    entry_id = sdk.run(sdk.client.xadd(key, "*", {"f": "v"}))
    non_blocking = ["XREAD", "COUNT", "1", "STREAMS", key, "0"]
    assert sdk.run(sdk.client.execute(non_blocking)) == [[key, [[entry_id, ["f", "v"]]]]]
    direct.xgroup_create(key, "api", id="0")
    # A consumer called "block" is a name, not the BLOCK option.
    read = sdk.run(sdk.client.xreadgroup("api", "block", {key: ">"}, count=10))
    assert read == [[key, [[entry_id, ["f", "v"]]]]]
    assert sdk.run(sdk.client.xack(key, "api", entry_id)) == 1


def test_connection_state_commands_are_refused(sdk: Sdk) -> None:
    for command in (["MULTI"], ["SELECT", "1"], ["WATCH", "k"]):
        with pytest.raises(UpstashError, match=f"{command[0]} is not supported"):
            sdk.run(sdk.client.execute(command))


# Raw HTTP: exactly what goes over the wire.


@pytest.fixture
def http(upstash_url: str, upstash_token: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {upstash_token}"}
    with httpx.Client(base_url=upstash_url, headers=headers, timeout=10) as client:
        yield client


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_wire_format_with_base64(http: httpx.Client, key: str) -> None:
    encoded = {"Upstash-Encoding": "base64"}
    assert http.post("/", json=["SET", key, "hello"], headers=encoded).json() == {"result": "OK"}
    assert http.post("/", json=["GET", key], headers=encoded).json() == {"result": b64("hello")}
    assert http.post("/", json=["GET", key]).json() == {"result": "hello"}
    assert http.post("/", json=["STRLEN", key], headers=encoded).json() == {"result": 5}
    assert http.post("/", json=["GET", f"{key}:none"], headers=encoded).json() == {"result": None}
    http.post("/", json=["RPUSH", f"{key}:l", "a", "OK", "c"])
    listing = http.post("/", json=["LRANGE", f"{key}:l", 0, -1], headers=encoded).json()
    assert listing == {"result": [b64("a"), "OK", b64("c")]}  # the SDK maps "OK" to "OK" anyway


def test_wire_format_of_pipeline_and_transaction(http: httpx.Client, key: str) -> None:
    replies = http.post("/pipeline", json=[["SET", key, "a"], ["INCR", key], ["BLPOP", key, 0],
                                           ["GET", key]])  # fmt: skip
    assert replies.status_code == 200
    body = replies.json()
    assert body[0] == {"result": "OK"} and body[3] == {"result": "a"}
    assert body[1]["error"].startswith("ERR value is not an integer")
    assert "BLPOP" in body[2]["error"]
    aborted = http.post("/multi-exec", json=[["SET", key, "b"], ["NOSUCHCOMMAND"]])
    assert aborted.status_code == 400
    assert aborted.json()["error"].startswith("EXECABORT")
    assert http.post("/", json=["GET", key]).json() == {"result": "a"}  # nothing was applied


def test_errors_are_redis_errors_with_status_400(http: httpx.Client, key: str) -> None:
    http.post("/", json=["SET", key, "text"])
    wrong_type = http.post("/", json=["LPUSH", key, "x"])
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"].startswith("WRONGTYPE")
    unknown = http.post("/", json=["FROBNICATE"])
    assert (unknown.status_code, unknown.json()["error"][:19]) == (400, "ERR unknown command")
    assert http.post("/", content=b"{not json").status_code == 400
    assert http.post("/", json={"command": "GET"}).status_code == 400


def test_numbers_keep_their_json_text(http: httpx.Client, key: str) -> None:
    set_decimal = f'["SET", "{key}", 1.50]'.encode()
    assert http.post("/", content=set_decimal).json() == {"result": "OK"}
    assert http.post("/", json=["GET", key]).json() == {"result": "1.50"}
    assert http.post("/", json=["EXPIRE", key, 100]).json() == {"result": 1}


def test_missing_or_wrong_token_is_401(upstash_url: str) -> None:
    with httpx.Client(base_url=upstash_url, timeout=10) as anonymous:
        assert anonymous.post("/", json=["PING"]).status_code == 401
        wrong = anonymous.post("/", json=["PING"], headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()) == (401, {"error": "Unauthorized"})
