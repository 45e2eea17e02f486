"""tests/faultproxy.py: lost-reply cuts against the real servers, so durability tests can trust it.

A durability test that passes because the proxy silently failed to cut, or cut before the
server ran the request, proves nothing; these tests pin down both halves of the fault (the
client sees an error, the server did the work) and that everything else passes untouched.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from pymongo import ASCENDING, MongoClient
from pymongo.database import Database
from pymongo.errors import AutoReconnect
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.faultproxy import FaultProxy, Request, _RespReplies, _RespRequests

Doc = dict[str, Any]


def proxy_threads(proxy: FaultProxy) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"faultproxy-{proxy.port}-")]


def started(url: str, protocol: str) -> Iterator[FaultProxy]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    proxy = FaultProxy(parts.hostname, parts.port, "redis" if protocol == "redis" else "mongodb")
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
    assert proxy_threads(proxy) == []


def no_retry_redis(url: str, protocol: int = 2) -> redis.Redis:
    # redis-py retries a failed command on a new connection by default; a lost reply must
    # surface instead.
    return redis.Redis.from_url(
        url, protocol=protocol, retry=Retry(NoBackoff(), 0), retry_on_error=[], socket_timeout=10
    )


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[FaultProxy]:
    yield from started(redis_url, "redis")


@pytest.fixture
def mongo_proxy(mongodb_uri: str) -> Iterator[FaultProxy]:
    yield from started(mongodb_uri, "mongodb")


@pytest.fixture
def direct(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as connection:
        yield connection


@pytest.fixture
def prefix(direct: redis.Redis) -> Iterator[str]:
    name = f"test:faultproxy:{uuid.uuid4().hex[:12]}"
    yield name
    for key in direct.scan_iter(f"{name}*"):
        direct.delete(key)


@pytest.fixture
def proxied_db(
    mongo_proxy: FaultProxy, mongodb_uri: str, db: Database[Doc]
) -> Iterator[Database[Doc]]:
    """The test's database (the `db` fixture drops it) as seen through the proxy."""
    client: MongoClient[Doc] = MongoClient(
        mongo_proxy.url(mongodb_uri), retryWrites=False, serverSelectionTimeoutMS=2000
    )
    with client:
        yield client[db.name]


def set_on(key: str) -> Callable[[Request], bool]:
    return lambda request: request.name == "SET" and request.target == key


# --- the parsers, without servers -----------------------------------------------------------


def chunkings(data: bytes) -> list[list[bytes]]:
    """The same stream whole, byte by byte, and in uneven pieces."""
    return [[data], [data[i : i + 1] for i in range(len(data))],
            [data[i : i + 7] for i in range(0, len(data), 7)]]  # fmt: skip


def test_request_parser_finds_every_request_however_the_stream_is_cut() -> None:
    value = b"a\r\n*2\r\n$3\r\nbad" * 3  # protocol-looking bytes inside a value
    stream = (
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + str(len(value)).encode() + b"\r\n" + value + b"\r\n"
        b"PING\r\n\r\n"  # an inline command, then an empty line (no request)
        b"*0\r\n"  # ignored by the server
        b"*2\r\n$3\r\nget\r\n$1\r\nk\r\n"
    )
    expected = [[b"SET", b"k", value], [b"PING"], [b"get", b"k"]]
    for pieces in chunkings(stream):
        parser = _RespRequests()
        found = [request for piece in pieces for request in parser.feed(piece)]
        assert found == expected
        assert not parser.broken


def test_reply_counter_counts_answers_not_pushes_or_attributes() -> None:
    big = b"x" * 100_000
    stream = (
        b"+OK\r\n"
        b"$5\r\nhe\r\nl\r\n"  # CRLF inside a bulk string
        b"$-1\r\n"
        b"*2\r\n*2\r\n:1\r\n$1\r\na\r\n*-1\r\n"
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"  # RESP3 push: no request
        b"%1\r\n+key\r\n~2\r\n,1.5\r\n#t\r\n"
        b"|1\r\n+ttl\r\n:3\r\n:42\r\n"  # an attribute, then the answer it annotates
        b"_\r\n"
        b"*0\r\n"
        b"$" + str(len(big)).encode() + b"\r\n" + big + b"\r\n"
        b"-ERR wrong\r\n"
    )
    for pieces in chunkings(stream):
        counter = _RespReplies()
        counts = []
        for piece in pieces:
            counter.feed(piece)
            counts.append(counter.count)
        assert counter.count == 10
        assert not counter.broken
        assert counts == sorted(counts)


def test_url_points_at_the_proxy_and_keeps_the_rest() -> None:
    with FaultProxy("127.0.0.1", 1, "redis") as proxy:
        port = proxy.port
        assert port > 0
        assert proxy.url("redis://:secret@10.1.2.3:6379/2") == f"redis://:secret@127.0.0.1:{port}/2"
        assert (
            proxy.url("mongodb://u:p@h1:27017,h2:27018/sbs?directConnection=true")
            == f"mongodb://u:p@127.0.0.1:{port}/sbs?directConnection=true"
        )
        with pytest.raises(ValueError, match="not a redis"):
            proxy.url("mongodb+srv://cluster.example.net/")
    assert proxy_threads(proxy) == []


# --- pass-through ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_commands_and_pipelines_pass_through(
    redis_proxy: FaultProxy, redis_url: str, direct: redis.Redis, prefix: str, protocol: int
) -> None:
    with no_retry_redis(redis_proxy.url(redis_url), protocol) as client:
        assert client.set(f"{prefix}:a", "1") is True
        assert client.get(f"{prefix}:a") == b"1"
        big = uuid.uuid4().bytes * 150_000  # 2.4 MB: many chunks each way
        client.set(f"{prefix}:big", big)
        assert client.get(f"{prefix}:big") == big
        for transaction in (False, True):
            pipe = client.pipeline(transaction=transaction)
            for i in range(50):
                pipe.set(f"{prefix}:p{i}", i)
                pipe.incr(f"{prefix}:n")
            pipe.hset(f"{prefix}:h", mapping={"x": "1", "y": "2"})
            pipe.hgetall(f"{prefix}:h")
            results = pipe.execute()
            assert results[-1] == {b"x": b"1", b"y": b"2"}
        assert direct.get(f"{prefix}:n") == b"100"
        assert direct.get(f"{prefix}:p49") == b"49"
    assert redis_proxy.cuts == 0


def test_mongodb_commands_pass_through(
    mongo_proxy: FaultProxy, proxied_db: Database[Doc], db: Database[Doc]
) -> None:
    proxied_db.orders.insert_one({"_id": "one", "n": 1})
    proxied_db.orders.insert_many([{"_id": f"o{i}", "n": i} for i in range(2, 500)])
    blob = "y" * 3_000_000
    proxied_db.blobs.insert_one({"_id": "blob", "data": blob})
    found = list(proxied_db.orders.find({"n": {"$lt": 4}}, sort=[("n", ASCENDING)]))
    assert [doc["_id"] for doc in found] == ["one", "o2", "o3"]
    assert proxied_db.orders.count_documents({}) == 499
    assert (proxied_db.blobs.find_one({"_id": "blob"}) or {}).get("data") == blob
    assert db.orders.count_documents({}) == 499  # the real server has them
    assert mongo_proxy.cuts == 0


# --- Redis cuts -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_cut_loses_the_reply_of_a_set_that_ran(
    redis_proxy: FaultProxy, redis_url: str, direct: redis.Redis, prefix: str, protocol: int
) -> None:
    key = f"{prefix}:k"
    with no_retry_redis(redis_proxy.url(redis_url), protocol) as client:
        assert client.set(key, "before")
        redis_proxy.cut_reply(set_on(key))
        assert client.set(f"{prefix}:other", "x")  # not the armed key: answered
        with pytest.raises(redis.ConnectionError):
            client.set(key, "lost")
        assert direct.get(key) == b"lost"  # executed, only the answer was lost
        assert redis_proxy.cuts == 1
        assert client.set(key, "after")  # the arm is used up; a fresh connection works
        assert client.get(key) == b"after"
    assert redis_proxy.cuts == 1


@pytest.mark.parametrize("filler", [0, 3000], ids=["small", "many-chunks"])
@pytest.mark.parametrize("transaction", [False, True], ids=["plain", "multi"])
def test_redis_cut_inside_a_pipeline(
    redis_proxy: FaultProxy,
    redis_url: str,
    direct: redis.Redis,
    prefix: str,
    transaction: bool,
    filler: int,
) -> None:
    stream = f"{prefix}:stream"
    direct.xgroup_create(stream, "g", id="0", mkstream=True)
    ids = [direct.xadd(stream, {"n": i}) for i in range(3)]
    with no_retry_redis(redis_proxy.url(redis_url)) as client:
        [(_, entries)] = client.xreadgroup("g", "c1", {stream: ">"}, count=10)
        assert [entry_id for entry_id, _ in entries] == ids
        redis_proxy.cut_reply(lambda r: r.name == "XACK" and r.target == stream)
        pipe = client.pipeline(transaction=transaction)
        pipe.set(f"{prefix}:before", 1)
        for i in range(filler):  # ~400 kB: the XACK and what follows come in later chunks
            pipe.hset(f"{prefix}:filler", f"field{i}", "v" * 100)
        pipe.xack(stream, "g", *ids)
        for i in range(filler):
            pipe.hset(f"{prefix}:filler", f"field{i}", "w" * 100)
        pipe.set(f"{prefix}:after", 1)
        with pytest.raises(redis.ConnectionError):
            pipe.execute()
    assert direct.xpending(stream, "g")["pending"] == 0  # the XACK ran
    assert direct.get(f"{prefix}:before") == b"1"
    if transaction:  # MULTI/EXEC: the cut waits for EXEC's answer, so all of it ran
        assert direct.get(f"{prefix}:after") == b"1"
        assert direct.hlen(f"{prefix}:filler") == filler
    assert redis_proxy.cuts == 1


def test_redis_cut_waits_for_an_answer_that_comes_late(
    redis_proxy: FaultProxy, redis_url: str, direct: redis.Redis, prefix: str
) -> None:
    """A blocked XREADGROUP: the cut comes when the entry is delivered, not before."""
    stream = f"{prefix}:stream"
    direct.xgroup_create(stream, "g", id="$", mkstream=True)
    redis_proxy.cut_reply(lambda r: r.name == "XREADGROUP")
    producer = threading.Timer(0.5, lambda: direct.xadd(stream, {"n": 1}))
    with no_retry_redis(redis_proxy.url(redis_url)) as client:
        begun = time.monotonic()
        producer.start()
        with pytest.raises(redis.ConnectionError):
            client.xreadgroup("g", "c1", {stream: ">"}, count=1, block=5000)
        waited = time.monotonic() - begun
    producer.join()
    assert 0.4 < waited < 4.0
    # The entry was delivered to c1 and now sits pending: the classic lost reply.
    assert direct.xpending(stream, "g")["consumers"] == [{"name": b"c1", "pending": 1}]
    assert redis_proxy.cuts == 1


def test_several_arms_each_cut_their_own_count(
    redis_proxy: FaultProxy, redis_url: str, direct: redis.Redis, prefix: str
) -> None:
    a, b = f"{prefix}:a", f"{prefix}:b"
    redis_proxy.cut_reply(set_on(a), times=2)
    redis_proxy.cut_reply(set_on(b))
    with no_retry_redis(redis_proxy.url(redis_url)) as client:
        for key, value in ((a, 1), (b, 1), (a, 2)):
            with pytest.raises(redis.ConnectionError):
                client.set(key, value)
        assert redis_proxy.wait_cuts(3, timeout=1.0)
        assert client.set(a, 3) and client.set(b, 3)
    assert not redis_proxy.wait_cuts(4, timeout=0.1)
    assert redis_proxy.cuts == 3
    assert direct.mget(a, b) == [b"3", b"3"]


def wait_for_threads(proxy: FaultProxy, count: int) -> int:
    deadline = time.monotonic() + 5
    while len(proxy_threads(proxy)) != count and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(proxy_threads(proxy))


def read_blocked(url: str, key: str) -> tuple[threading.Thread, list[BaseException]]:
    """A client blocked in XREAD through `url`; the list gets the error that ends it."""
    errors: list[BaseException] = []

    def read() -> None:
        with no_retry_redis(url) as reader:
            try:
                reader.xread({key: "$"}, block=8000)
            except redis.ConnectionError as exc:
                errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    return thread, errors


def test_drop_all_closes_open_connections(
    redis_proxy: FaultProxy, redis_url: str, prefix: str
) -> None:
    url = redis_proxy.url(redis_url)
    with no_retry_redis(url) as client:
        assert client.ping()
        assert wait_for_threads(redis_proxy, 2) == 2  # the acceptor and one connection
        redis_proxy.drop_all()
        assert wait_for_threads(redis_proxy, 1) == 1
        # redis-py checks an idle pooled connection before using it and reconnects quietly.
        assert client.ping()
        reader, errors = read_blocked(url, f"{prefix}:quiet")
        assert wait_for_threads(redis_proxy, 3) == 3
        began = time.monotonic()
        redis_proxy.drop_all()
        reader.join(timeout=5)
        assert len(errors) == 1  # a request in flight fails, at once
        assert time.monotonic() - began < 2.0
    assert redis_proxy.cuts == 0


def test_stop_ends_every_connection_and_thread(redis_url: str, prefix: str) -> None:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    proxy = FaultProxy(parts.hostname, parts.port, "redis").start()
    url = proxy.url(redis_url)
    try:
        with no_retry_redis(url) as client:
            assert client.ping()
            reader, errors = read_blocked(url, f"{prefix}:quiet")
            assert wait_for_threads(proxy, 3) == 3
    finally:
        began = time.monotonic()
        proxy.stop()
    assert time.monotonic() - began < 2.0
    reader.join(timeout=5)
    assert len(errors) == 1
    assert proxy_threads(proxy) == []
    with no_retry_redis(url) as client, pytest.raises(redis.ConnectionError):
        client.ping()  # nothing listens any more


# --- MongoDB cuts ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 3000], ids=["one", "many-chunks"])
def test_mongodb_cut_loses_the_reply_of_an_insert_that_ran(
    mongo_proxy: FaultProxy, proxied_db: Database[Doc], db: Database[Doc], count: int
) -> None:
    proxied_db.orders.insert_one({"_id": "first"})
    mongo_proxy.cut_reply(lambda r: r.name == "insert" and r.target == "orders" and r.db == db.name)
    lost = [{"_id": f"lost{i}", "pad": "p" * 100} for i in range(count)]  # ~400 kB for 3000
    with pytest.raises(AutoReconnect):
        proxied_db.orders.insert_many(lost)
    assert db.orders.count_documents({"_id": {"$regex": "^lost"}}) == count  # it was inserted
    assert mongo_proxy.cuts == 1
    proxied_db.orders.insert_one({"_id": "later"})
    assert db.orders.count_documents({}) == count + 2
    assert mongo_proxy.cuts == 1


def test_mongodb_requests_that_do_not_match_pass(
    mongo_proxy: FaultProxy, proxied_db: Database[Doc], db: Database[Doc]
) -> None:
    seen: list[Request] = []

    def other_inserts(request: Request) -> bool:
        seen.append(request)
        return request.name == "insert" and request.target == "other"

    mongo_proxy.cut_reply(other_inserts)
    proxied_db.orders.insert_one({"_id": 1})
    assert proxied_db.orders.find_one({"_id": 1}) == {"_id": 1}
    proxied_db.orders.update_one({"_id": 1}, {"$set": {"x": 1}})
    assert mongo_proxy.cuts == 0
    names = {(r.name, r.target, r.db) for r in seen}
    assert {("insert", "orders", db.name), ("find", "orders", db.name)} <= names
    assert ("update", "orders", db.name) in names
    with pytest.raises(AutoReconnect):  # the arm was live all along
        proxied_db.other.insert_one({"_id": 2})
    assert mongo_proxy.cuts == 1
    assert db.other.count_documents({}) == 1
