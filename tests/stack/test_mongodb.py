"""The MongoDB features docs/MONGODB.md says the code may rely on, on the stack's server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, DeleteOne, InsertOne, ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

Doc = dict[str, Any]


def test_insert_many_then_find_with_filter_sort_and_limit(db: Database[Doc]) -> None:
    rows = [
        {"_id": f"o{i}", "side": "buy" if i % 2 else "sell", "price": 100 + i % 5, "seq": i}
        for i in range(40)
    ]
    assert len(db.orders.insert_many(rows).inserted_ids) == 40
    best = db.orders.find(
        {"side": "buy"}, sort=[("price", DESCENDING), ("seq", ASCENDING)], limit=3
    )
    # Buys have odd seq; price 104 comes from seq 9, 19, 29 (best price, then time).
    assert [doc["_id"] for doc in best] == ["o9", "o19", "o29"]
    assert db.orders.count_documents({"side": "sell", "price": {"$gte": 103}}) == 8
    page = list(db.orders.find({"seq": {"$lt": 20}}).sort("seq", DESCENDING).skip(2).limit(5))
    assert [doc["seq"] for doc in page] == [17, 16, 15, 14, 13]


def test_bulk_write_upserts_are_idempotent(db: Database[Doc]) -> None:
    def projection(fill: int) -> list[UpdateOne]:
        return [
            UpdateOne(
                {"_id": order_id},
                {
                    "$set": {"traded_quantity": fill, "status": "partially_filled"},
                    "$setOnInsert": {"created_at": 1},
                    "$max": {"last_sequence": fill},
                },
                upsert=True,
            )
            for order_id in ("a", "b", "c")
        ]

    first = db.orders.bulk_write(projection(10), ordered=True)
    assert (first.upserted_count, first.matched_count) == (3, 0)
    replay = db.orders.bulk_write(projection(10), ordered=False)  # a replayed batch
    assert (replay.upserted_count, replay.matched_count, replay.modified_count) == (0, 3, 0)
    db.orders.bulk_write(projection(25))
    doc = db.orders.find_one({"_id": "b"})
    assert doc == {"_id": "b", "traded_quantity": 25, "status": "partially_filled",
                   "created_at": 1, "last_sequence": 25}  # fmt: skip


def test_unique_index_rejects_a_duplicate(db: Database[Doc]) -> None:
    db.journal.create_index([("shard", ASCENDING), ("batch", ASCENDING)], unique=True)
    db.journal.insert_one({"shard": 0, "batch": 1})
    db.journal.insert_one({"shard": 1, "batch": 1})  # the other half of the key differs
    with pytest.raises(DuplicateKeyError) as caught:
        db.journal.insert_one({"shard": 0, "batch": 1})
    assert caught.value.code == 11000
    assert db.journal.count_documents({}) == 2


def test_ordered_bulk_stops_at_a_duplicate_unordered_goes_on(db: Database[Doc]) -> None:
    db.keys.create_index("hash", unique=True)
    with pytest.raises(BulkWriteError) as ordered:
        db.keys.bulk_write([InsertOne({"hash": 1}), InsertOne({"hash": 1}), InsertOne({"hash": 2})])
    assert ordered.value.details["writeErrors"][0]["code"] == 11000
    assert db.keys.count_documents({"hash": 2}) == 0
    with pytest.raises(BulkWriteError):
        db.keys.bulk_write(
            [InsertOne({"hash": 3}), InsertOne({"hash": 3}), InsertOne({"hash": 4})], ordered=False
        )
    assert sorted(doc["hash"] for doc in db.keys.find()) == [1, 3, 4]


def test_a_unique_index_holds_under_concurrent_inserts(db: Database[Doc]) -> None:
    # The claim pattern (idempotency keys, journal batch ids): exactly one insert wins per key.
    db.claims.create_index("key", unique=True)
    outcomes: list[str] = []

    def claim_all(_: str) -> None:
        for key in range(50):
            try:
                db.claims.insert_one({"key": key})
                outcomes.append("won")
            except DuplicateKeyError:
                outcomes.append("duplicate")

    _in_threads(claim_all, 4)
    assert outcomes.count("won") == 50
    assert outcomes.count("duplicate") == 150
    assert db.claims.count_documents({}) == 50


def test_small_update_batches_from_concurrent_writers(db: Database[Doc]) -> None:
    # The safe shape on FerretDB (see docs/MONGODB.md): <= 20 statements per update command,
    # each writer on its own documents.
    def writer(name: str) -> None:
        for _ in range(5):
            db.orders.bulk_write([
                UpdateOne({"_id": f"{name}-{i}"}, {"$inc": {"fills": 1}}, upsert=True)
                for i in range(20)
            ])  # fmt: skip

    _in_threads(writer, 4)
    assert db.orders.count_documents({}) == 80
    assert {doc["fills"] for doc in db.orders.find()} == {5}


def _in_threads(work: Callable[[str], None], count: int) -> None:
    """Run `work(name)` in `count` threads at once, named "0", "1", ..."""
    threads = [threading.Thread(target=work, args=(str(n),)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_find_one_and_update_returns_the_new_document(db: Database[Doc]) -> None:
    first = db.counters.find_one_and_update(
        {"_id": "shard-0"}, {"$inc": {"next": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    second = db.counters.find_one_and_update(
        {"_id": "shard-0"}, {"$inc": {"next": 1}}, return_document=ReturnDocument.AFTER
    )
    assert (first, second) == ({"_id": "shard-0", "next": 1}, {"_id": "shard-0", "next": 2})


def test_compound_index_is_listed(db: Database[Doc]) -> None:
    name = db.orders.create_index([("account", ASCENDING), ("created_at", DESCENDING)])
    assert db.orders.index_information()[name]["key"] == [("account", 1), ("created_at", -1)]


def test_replace_and_delete_by_id(db: Database[Doc]) -> None:
    db.orders.insert_many([{"_id": f"o{i}", "status": "open"} for i in range(10)])
    replaced = db.orders.replace_one({"_id": "o3"}, {"status": "filled", "traded": 5})
    assert (replaced.matched_count, replaced.modified_count) == (1, 1)
    assert db.orders.find_one({"_id": "o3"}) == {"_id": "o3", "status": "filled", "traded": 5}
    created = db.orders.replace_one({"_id": "o99"}, {"status": "open"}, upsert=True)
    assert created.upserted_id == "o99"
    assert db.orders.delete_one({"_id": "o0"}).deleted_count == 1
    gone = db.orders.delete_many({"_id": {"$in": ["o1", "o2", "o3", "missing"]}})
    assert gone.deleted_count == 3
    remaining = sorted(doc["_id"] for doc in db.orders.find())
    assert remaining == [*(f"o{i}" for i in range(4, 10)), "o99"]


def test_a_filter_on_id_alone_is_an_index_seek(db: Database[Doc]) -> None:
    """The hot paths look orders up, and delete them, by `{"_id": ...}` alone because that
    is served from the `_id` index; on FerretDB only with the stack's one-line fix
    (devstack/ferretdb.py), without which this plan is a SCAN of the whole table."""
    db.orders.insert_many([{"_id": f"o{i}", "account": f"a{i % 3}"} for i in range(50)])
    by_id = db.command("explain", {"find": "orders", "filter": {"_id": "o7"}})
    by_in = db.command("explain", {"find": "orders", "filter": {"_id": {"$in": ["o7"]}}})
    if "ferretdbVersion" in by_id.get("serverInfo", {}):
        assert any("USING INDEX" in step for step in by_id["queryPlanner"]["Plan"]), by_id
        assert any("SCAN" in step for step in by_in["queryPlanner"]["Plan"]), by_in
    else:  # mongod: an _id equality is IDHACK / EXPRESS_IXSCAN, never a collection scan
        assert "COLLSCAN" not in str(by_id["queryPlanner"]["winningPlan"]), by_id
    assert db.orders.find_one({"_id": "o7"}) == {"_id": "o7", "account": "a1"}
    result = db.orders.bulk_write([DeleteOne({"_id": f"o{i}"}) for i in range(0, 50, 2)])
    assert result.deleted_count == 25
    assert sorted(d["_id"] for d in db.orders.find()) == sorted(f"o{i}" for i in range(1, 50, 2))
