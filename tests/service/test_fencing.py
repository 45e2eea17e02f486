"""One writer per shard, enforced where the writes land, not where they are decided.

Each test aims at one way a matcher that lost its lease (paused, cut off, restarted in
the same process) could still have written, or at a read that could strand or repeat
stream entries - the findings of the durability review, one or more tests each.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pymongo
import pytest
import redis

from lib import keys
from matcher.service import store
from matcher.service.batch import Entry
from matcher.service.lease import Lease, LeaseLostError, stint_token
from matcher.service.metrics import Metrics
from matcher.service.order_writer import OrderWriter
from matcher.service.projector import Projector
from matcher.service.stream import CommandStream, StreamReader
from tests.faultproxy import FaultProxy, Request
from tests.service.harness import ServiceEnv

Doc = dict[str, Any]


def leader(client: redis.Redis, lease_ms: int = 5000) -> tuple[Lease, CommandStream]:
    lease = Lease(client, 0, stint_token(), lease_ms, renew_ms=lease_ms // 3)
    assert lease.try_acquire()
    commands = CommandStream(client, 0, lease.token)
    commands.ensure_group()
    return lease, commands


def add(client: redis.Redis, n: int, tag: str = "c") -> list[str]:
    stream = keys.command_stream(0)
    ids = [client.xadd(stream, {keys.COMMAND_FIELD: f'{{"n":"{tag}{i}"}}'}) for i in range(n)]
    return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


def pending_of(client: redis.Redis, consumer: str) -> int:
    info = client.xpending_range(keys.command_stream(0), keys.CONSUMER_GROUP, "-", "+", 10_000)
    return sum(1 for p in info if p["consumer"] in (consumer, consumer.encode()))


# ------------------------------------------------------------------ reading the stream


def test_pending_entries_are_handed_out_once_and_never_acknowledged_by_a_read(
    service_env: ServiceEnv,
) -> None:
    """Finding 1: a stint that starts with pending entries must not get them again on its
    next read (it then took them for committed and acknowledged them before the commit)."""
    client = service_env.redis()
    _, dead = leader(client)
    first = add(client, 5)
    assert [e.stream_id for e in StreamReader(dead).read(100, 10)] == []  # pending: none yet
    dead_reader = StreamReader(dead)
    dead_reader.pending = False
    assert [e.stream_id for e in dead_reader.read(100, 10)] == first  # delivered, never acked
    client.delete(keys.lease(0))

    _, commands = leader(client)
    assert commands.take_over_pending() == 5
    reader = StreamReader(commands)
    later = add(client, 3)
    assert [e.stream_id for e in reader.read(100, 10)] == first
    assert [e.stream_id for e in reader.read(100, 10)] == []  # the pending list is done
    assert [e.stream_id for e in reader.read(100, 10)] == later
    assert pending_of(client, commands.consumer) == 8  # nothing acknowledged by reading


def test_a_lost_read_reply_strands_nothing(service_env: ServiceEnv, redis_url: str) -> None:
    """Finding 3: the server delivered entries, the reply was lost; the next read must
    return exactly those entries before anything newer, in order."""
    direct = service_env.redis()
    host, port = (
        direct.connection_pool.connection_kwargs["host"],
        direct.connection_pool.connection_kwargs["port"],
    )
    with FaultProxy(host, int(port), "redis") as proxy:
        client = redis.Redis.from_url(proxy.url(redis_url), retry=None, retry_on_error=[])
        _, commands = leader(client)
        reader = StreamReader(commands)
        assert reader.read(100, 10) == []
        reader.read(100, 10)  # caught up: waits for new entries (nothing yet)
        first = add(direct, 4)

        def is_new_read(request: Request) -> bool:
            return request.name in ("EVALSHA", "EVAL") and request.args[-1:] == (b">",)

        proxy.cut_reply(is_new_read)
        with pytest.raises(redis.ConnectionError):
            reader.read(100, 10)
        assert proxy.cuts == 1
        assert pending_of(direct, commands.consumer) == 4  # delivered to us, reply lost
        second = add(direct, 2)
        assert [e.stream_id for e in reader.read(100, 10)] == first
        assert [e.stream_id for e in reader.read(100, 10)] == []
        assert [e.stream_id for e in reader.read(100, 10)] == second
        client.close()


def test_a_stint_without_the_lease_reads_nothing(service_env: ServiceEnv) -> None:
    """Finding 6: a reader paused past its lease must not receive entries after its
    successor took over (they would sit in its pending list, then be trimmed)."""
    client = service_env.redis()
    _, stale = leader(client)
    client.delete(keys.lease(0))  # expired...
    _, successor = leader(client)  # ...and taken
    add(client, 3)
    reader = StreamReader(stale)
    reader.pending = False
    with pytest.raises(LeaseLostError):
        reader.read(100, 10)
    with pytest.raises(LeaseLostError):
        stale.take_over_pending()
    assert pending_of(client, stale.consumer) == 0
    successor_reader = StreamReader(successor)
    successor_reader.pending = False
    assert len(successor_reader.read(100, 10)) == 3


def test_take_over_claims_everything_and_forgets_the_other_consumers(
    service_env: ServiceEnv,
) -> None:
    """Finding 6: claiming and dropping dead consumers is one atomic script, so no
    consumer can read between the two and lose its pending list."""
    client = service_env.redis()
    stream = keys.command_stream(0)
    leader(client)
    add(client, 4)
    client.xreadgroup(keys.CONSUMER_GROUP, "old-a", {stream: ">"}, count=2)
    client.xreadgroup(keys.CONSUMER_GROUP, "old-b", {stream: ">"}, count=2)
    client.delete(keys.lease(0))
    _, successor = leader(client)
    assert successor.take_over_pending() == 4
    consumers = {c["name"].decode() for c in client.xinfo_consumers(stream, keys.CONSUMER_GROUP)}
    assert consumers == {successor.consumer}
    assert pending_of(client, successor.consumer) == 4


# ------------------------------------------------------------------ Redis writes


def test_a_stale_stint_cannot_publish_or_acknowledge(service_env: ServiceEnv) -> None:
    """Finding 9: a leader that resumes after its successor published must not overwrite
    the caches with older state, nor acknowledge anything."""
    client = service_env.redis()
    _, stale = leader(client)
    ids = add(client, 2)
    reader = StreamReader(stale)
    reader.pending = False
    reader.read(100, 10)
    client.delete(keys.lease(0))
    leader(client)
    with pytest.raises(LeaseLostError):
        stale.publish_depth({"ACME": {"bids": [], "asks": [], "stale": True}})
    with pytest.raises(LeaseLostError):
        stale.ack(ids)
    assert client.get(keys.depth("ACME")) is None
    assert pending_of(client, stale.consumer) == 2


def test_an_expired_lease_is_lost_not_revived(service_env: ServiceEnv) -> None:
    """Finding 6: once the key expired somebody else may have led meanwhile; renewing
    it would resume with state that may be stale."""
    client = service_env.redis()
    lease, _ = leader(client)
    client.delete(keys.lease(0))  # as an expiry would
    lease.renew_once()
    assert lease.lost and not lease.valid()
    assert client.get(keys.lease(0)) is None


# ------------------------------------------------------------------ MongoDB writes


def test_a_write_is_never_sent_after_the_lease_ran_out(service_env: ServiceEnv) -> None:
    """Finding 4: a writer paused between deciding to write and sending the write must find
    the write refused once its lease has run out, whatever the pause."""
    client = service_env.redis()
    lease, _ = leader(client, lease_ms=1000)  # no renewer running: it runs out in ~0.75 s
    db = service_env.db()
    with lease.writes_allowed():
        db.fenced.insert_one({"_id": "in-time"})
    with lease.writes_allowed():
        time.sleep(lease.remaining_ms() / 1000 + 0.05)  # the pause, after the check
        with pytest.raises(pymongo.errors.PyMongoError) as refused:
            db.fenced.insert_one({"_id": "too-late"})
    assert refused.value.timeout
    with pytest.raises(LeaseLostError), lease.writes_allowed():
        db.fenced.insert_one({"_id": "later"})
    assert [d["_id"] for d in db.fenced.find()] == ["in-time"]


def test_progress_moves_only_under_the_newest_epoch(service_env: ServiceEnv) -> None:
    """Finding 4: a stale projector's progress write must not move progress (backwards)."""
    db = service_env.db()
    old = store.take_over(db, 0)
    store.write_progress(db, 0, store.ShardProgress(5, "5-0", 50), "old", old)
    new = store.take_over(db, 0)
    assert new > old
    store.write_progress(db, 0, store.ShardProgress(9, "9-0", 90), "new", new)
    with pytest.raises(store.FencedOutError):
        store.write_progress(db, 0, store.ShardProgress(6, "6-0", 60), "old", old)
    assert store.read_progress(db, 0) == store.ShardProgress(9, "9-0", 90)


def test_a_later_stint_of_the_same_process_is_another_writer(service_env: ServiceEnv) -> None:
    """Finding 5: the journal's duplicate check must not take an earlier stint's late
    insert for this stint's own retry: the writer token is new for every stint."""
    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    store.ensure_indexes(dbs)
    earlier, later = stint_token(), stint_token()
    assert earlier != later
    store.insert_journal(dbs, {"_id": "0:1", "shard": 0, "batch": 1, "writer": earlier})
    with pytest.raises(store.FencedOutError):
        store.insert_journal(dbs, {"_id": "0:1", "shard": 0, "batch": 1, "writer": later})


def test_a_redone_round_removes_orders_that_ended_after_an_earlier_attempt(
    service_env: ServiceEnv,
) -> None:
    """Finding 2: round over batches 10..11 inserted live order X; batch 12 ended X; the
    redo of 10..12 sees X as new *and* ended - it must still leave `open_orders`."""
    db = service_env.db()
    writer = OrderWriter(db)
    live = {"_id": "X", "order_alive": True, "status": "open"}
    other = {"_id": "Y", "order_alive": True, "status": "open"}
    writer.write([live, other], {"X", "Y"}, store.UNFENCED, redo=False)
    ended = {"_id": "X", "order_alive": False, "status": "filled"}
    changed = {"_id": "Y", "order_alive": True, "status": "partially_filled"}
    writer.write([ended, changed], {"X", "Y"}, store.UNFENCED, redo=True)
    assert list(db.open_orders.find()) == [changed]
    assert list(db.orders.find()) == [ended]


# ------------------------------------------------------------------ start-up races


def test_two_matchers_creating_the_collections_at_once(service_env: ServiceEnv) -> None:
    """Finding 10: on an empty database one of them got NamespaceExists and exited."""
    failures: list[BaseException] = []

    def create() -> None:
        try:
            store.ensure_indexes(store.connect(service_env.mongodb_uri, service_env.db_name))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_an_abandoned_projector_handles_an_emptied_queue(service_env: ServiceEnv) -> None:
    """Finding 10: abandon() can empty the queue while the thread takes a round."""
    client = service_env.redis()
    lease, _ = leader(client)
    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    projector = Projector(dbs, 0, lease, store.take_over(dbs.main, 0), Metrics(0))
    projector._handle([])  # what the thread does with the round it took
    assert projector.failed is None


def test_entries_deleted_while_pending_are_reported_not_applied(service_env: ServiceEnv) -> None:
    """A pending entry whose fields are gone comes back as an empty command (logged); the
    batch refuses it as invalid instead of stopping the shard."""
    client = service_env.redis()
    _, commands = leader(client)
    (entry_id,) = add(client, 1)
    reader = StreamReader(commands)
    reader.pending = False
    reader.read(10, 10)
    client.xdel(keys.command_stream(0), entry_id)
    assert StreamReader(commands).read(10, 10) == [Entry(entry_id, "")]
