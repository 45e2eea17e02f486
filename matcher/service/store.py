"""MongoDB side of the matcher: collections, the journal, projections, the shard's state.

Every write here is idempotent or fenced, so recovery may repeat any of them:
- `journal`: one document per batch, `_id` "{shard}:{batch}" - the unique id is the fence
  that stops a stale writer (DuplicateKeyError -> FencedOutError);
- `trades`: insert_many(ordered=False); a duplicate key on replay means "already there";
- `orders`: one write per touched order per batch (last state wins), see OrderWriter;
- `matcher_state`: {_id: "shard:N", last_batch, last_stream_id, sequence} - a batch is
  *applied* once this document names it (see docs/MATCHER.md for why not journal.applied).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING
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


def connect(uri: str, db_name: str) -> Database[Doc]:
    # Short server selection: an outage surfaces within ~1 s and goes to the retry loop.
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000, socketTimeoutMS=120_000
    )
    return client[db_name]


def ensure_indexes(db: Database[Doc]) -> None:
    """Create collections and indexes; idempotent (create_index on an existing one is a no-op)."""
    existing = set(db.list_collection_names())
    for name in ("orders", "trades", "journal", "matcher_state", "accounts", "api_keys"):
        if name not in existing:
            # another matcher may create it meanwhile
            with contextlib.suppress(pymongo.errors.CollectionInvalid):
                db.create_collection(name)
    db.orders.create_index([("account", ASCENDING), ("created_at", DESCENDING)])
    db.orders.create_index([("symbol", ASCENDING), ("status", ASCENDING)])
    db.journal.create_index([("shard", ASCENDING), ("batch", ASCENDING)])
    db.trades.create_index([("symbol", ASCENDING), ("sequence", ASCENDING)])
    db.trades.create_index([("bid_order_id", ASCENDING)])
    db.trades.create_index([("ask_order_id", ASCENDING)])
    db.api_keys.create_index([("key_hash", ASCENDING)], unique=True)
    db.accounts.create_index([("account", ASCENDING)], unique=True)


def journal_id(shard: int, batch: int) -> str:
    return f"{shard}:{batch}"


def insert_journal(db: Database[Doc], doc: Doc) -> None:
    """Insert a batch's journal document; FencedOutError when another writer owns that number.

    A retry after a lost reply can meet its own earlier insert: the `writer` token tells
    that case (carry on) from a real conflict (stop).
    """
    try:
        db.journal.insert_one(doc)
    except DuplicateKeyError:
        existing = db.journal.find_one({"_id": doc["_id"]}, {"writer": 1})
        if existing is None or existing.get("writer") != doc["writer"]:
            raise FencedOutError(
                f"journal batch {doc['_id']} was written by another matcher"
            ) from None


def find_journal(db: Database[Doc], shard: int, batch: int) -> Doc | None:
    return db.journal.find_one({"_id": journal_id(shard, batch)})


def recent_journal(db: Database[Doc], shard: int, after_batch: int) -> list[Doc]:
    """Journal batches of `shard` numbered above `after_batch` (a scan; start-up only)."""
    found = db.journal.find({"shard": shard, "batch": {"$gt": after_batch}})
    return sorted(found, key=lambda d: int(d["batch"]))


def prune_journal(db: Database[Doc], shard: int, below_batch: int) -> None:
    if below_batch > 0:
        db.journal.delete_many({"shard": shard, "batch": {"$lt": below_batch}})


def insert_trades(db: Database[Doc], trades: list[Doc]) -> None:
    if not trades:
        return
    try:
        db.trades.insert_many(trades, ordered=False)
    except BulkWriteError as exc:
        # On a redo some trades are already there: same _id, same content. Anything else
        # is a real error.
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise


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
    """Every live order of these symbols (a scan on FerretDB; start-up only)."""
    # status rather than order_alive, so that the (symbol, status) index serves it on MongoDB.
    live = {"$in": ["open", "partially_filled"]}
    return list(db.orders.find({"symbol": {"$in": symbols}, "status": live}))
