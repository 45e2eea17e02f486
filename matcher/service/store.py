"""MongoDB side of the matcher: collections, the journal, projections, the shard's state.

Every write here is idempotent or fenced, so recovery may repeat any of them:
- `journal` (in its own database, see Databases): one document per batch, `_id`
  "{shard}:{batch}" - the unique id is the fence that stops a stale writer
  (DuplicateKeyError -> FencedOutError);
- `trades`: insert_many(ordered=False); a duplicate key on replay means "already there";
- `open_orders` (live) and `orders` (ended, written once): last state wins, see OrderWriter;
- `matcher_state`: {_id: "shard:N", last_batch, last_stream_id, sequence} - a batch's
  projections are written once this document names it or a later one. Progress lives
  here rather than as a flag on each journal document: one small document to update,
  where a flag would be an update of the (large, scanned on FerretDB) journal.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


class FencedOutError(Exception):
    """Another writer committed this batch number: this process must stop writing."""


@dataclass(frozen=True, slots=True)
class ShardProgress:
    last_batch: int = 0
    last_stream_id: str = "0-0"
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class Databases:
    """The matcher's two databases.

    The journal lives in a database of its own (`<MONGODB_DB>_journal`) so that the commit
    point never queues behind projection writes: FerretDB/SQLite keeps one file, and one
    write lock, per database, and its projection writes scan whole collections. On MongoDB
    it costs nothing; the user needs readWrite on both databases.
    """

    main: Database[Doc]  # open_orders, orders, trades, matcher_state, accounts, api_keys
    journal: Collection[Doc]


def journal_db_name(db_name: str) -> str:
    return f"{db_name}_journal"


def connect(uri: str, db_name: str) -> Databases:
    # Short server selection: an outage surfaces within ~1 s and goes to the retry loop.
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000, socketTimeoutMS=120_000
    )
    return Databases(client[db_name], client[journal_db_name(db_name)]["journal"])


def ensure_indexes(dbs: Databases) -> None:
    """Create collections and indexes; idempotent (create_index on an existing one is a no-op)."""
    db = dbs.main
    existing = set(db.list_collection_names())
    for name in ("open_orders", "orders", "trades", "matcher_state", "accounts", "api_keys"):
        if name not in existing:
            # another matcher may create it meanwhile
            with contextlib.suppress(pymongo.errors.CollectionInvalid):
                db.create_collection(name)
    db.orders.create_index([("account", ASCENDING), ("created_at", DESCENDING)])
    db.orders.create_index([("symbol", ASCENDING), ("status", ASCENDING)])
    db.open_orders.create_index([("account", ASCENDING), ("created_at", DESCENDING)])
    db.open_orders.create_index([("symbol", ASCENDING)])
    dbs.journal.create_index([("shard", ASCENDING), ("batch", ASCENDING)])
    dbs.journal.create_index([("shard", ASCENDING), ("timestamp", ASCENDING)])
    db.trades.create_index([("symbol", ASCENDING), ("sequence", ASCENDING)])
    db.trades.create_index([("bid_order_id", ASCENDING)])
    db.trades.create_index([("ask_order_id", ASCENDING)])
    db.api_keys.create_index([("key_hash", ASCENDING)], unique=True)
    db.accounts.create_index([("account", ASCENDING)], unique=True)


def journal_id(shard: int, batch: int) -> str:
    return f"{shard}:{batch}"


def insert_journal(journal: Collection[Doc], doc: Doc) -> None:
    """Insert a batch's journal document; FencedOutError when another writer owns that number.

    A retry after a lost reply can meet its own earlier insert: the `writer` token tells
    that case (carry on) from a real conflict (stop).
    """
    try:
        journal.insert_one(doc)
    except DuplicateKeyError:
        existing = journal.find_one({"_id": doc["_id"]}, {"writer": 1})
        if existing is None or existing.get("writer") != doc["writer"]:
            raise FencedOutError(
                f"journal batch {doc['_id']} was written by another matcher"
            ) from None


def recent_journal(
    journal: Collection[Doc], shard: int, from_batch: int, since_ns: int
) -> list[Doc]:
    """Journal batches of `shard` numbered `from_batch` or above, or committed since
    `since_ns`, in batch order (start-up only)."""
    recent = {"$or": [{"batch": {"$gte": from_batch}}, {"timestamp": {"$gte": since_ns}}]}
    found = journal.find({"shard": shard, **recent})
    return sorted(found, key=lambda d: int(d["batch"]))


def prune_journal(journal: Collection[Doc], shard: int, upto_batch: int, before_ns: int) -> None:
    """Delete journal batches that are projected (≤ `upto_batch`) and older than `before_ns`."""
    journal.delete_many(
        {"shard": shard, "batch": {"$lte": upto_batch}, "timestamp": {"$lt": before_ns}}
    )


# Documents per insert_many call. pymongo encodes a whole call to BSON holding the GIL;
# small calls let the matching loop's thread run in between.
INSERT_CHUNK = 500


def insert_new(collection: Collection[Doc], docs: list[Doc]) -> list[Doc]:
    """insert_many in chunks; returns the documents whose _id already existed (a redo)."""
    existed: list[Doc] = []
    for start in range(0, len(docs), INSERT_CHUNK):
        chunk = docs[start : start + INSERT_CHUNK]
        try:
            collection.insert_many(chunk, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            existed += [chunk[e["index"]] for e in errors]
    return existed


def insert_trades(db: Database[Doc], trades: list[Doc]) -> None:
    # A trade already there on a redo has the same _id and the same content: skip it.
    insert_new(db.trades, trades)


def read_progress(db: Database[Doc], shard: int) -> ShardProgress:
    doc = db.matcher_state.find_one({"_id": f"shard:{shard}"})
    if doc is None:
        return ShardProgress()
    return ShardProgress(int(doc["last_batch"]), str(doc["last_stream_id"]), int(doc["sequence"]))


def write_progress(db: Database[Doc], shard: int, progress: ShardProgress, writer: str) -> None:
    db.matcher_state.replace_one(
        {"_id": f"shard:{shard}"},
        {
            "last_batch": progress.last_batch,
            "last_stream_id": progress.last_stream_id,
            "sequence": progress.sequence,
            "writer": writer,
            "updated_at_ms": int(time.time() * 1000),
        },
        upsert=True,
    )


def open_orders(db: Database[Doc], symbols: list[str]) -> list[Doc]:
    """Every live order of these symbols (start-up only)."""
    return list(db.open_orders.find({"symbol": {"$in": symbols}}))
