"""MongoDB side of the matcher: collections, the journal, projections, the shard's state.

Every write here is idempotent or fenced, so recovery may repeat any of them:
- `journal` (in its own database, see Databases): one document per batch, `_id`
  "{shard}:{batch}" - the unique id is the fence that stops a stale writer
  (DuplicateKeyError -> FencedOutError); `journal_parts` holds the payload of a batch too
  large for one document, written before it;
- `trades`: insert_many(ordered=False); a duplicate key on replay means "already there";
- `open_orders` (live) and `orders` (ended, written once): last state wins, see OrderWriter;
- `matcher_state`: {_id: "shard:N", epoch, last_batch, last_stream_id, sequence,
  changed_us} - a batch's projections are written once this document names it or a later
  one. `sequence` and `changed_us` (the newest order change written, in µs) also tell the
  API which entries of the recent-writes index MongoDB does not have yet. Progress
  lives here rather than as a flag on each journal document: one small document to
  update, where finding the unflagged batches would be a query on a field of the large
  journal, a scan of it on FerretDB.
  Every leadership stint first raises `epoch` (`take_over`) and moves progress only while
  the epoch is still its own, so a stale writer can never move it (backwards).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import pymongo
from pymongo import ASCENDING, DESCENDING, DeleteOne, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError, OperationFailure

Doc = dict[str, Any]
DUPLICATE_KEY = 11000
NAMESPACE_EXISTS = 48


class Fence(Protocol):
    """Runs each single driver call that writes: the matcher's sends it only while its
    lease holds (`Lease.fenced`), one call at a time, so that a long series of writes never
    needs the whole lease at once, and retries it through timeouts and lost replies (every
    write here is idempotent on its own)."""

    def __call__[T](self, write: Callable[[], T]) -> T: ...


def _unfenced[T](write: Callable[[], T]) -> T:
    return write()


UNFENCED: Fence = _unfenced
# Deletes per bulk_write call: about 0.3 s of the local FerretDB's time, so that a call
# never holds the lease long.
DELETE_CHUNK = 1_000


class FencedOutError(Exception):
    """Another writer committed this batch number: this process must stop writing."""


@dataclass(frozen=True, slots=True)
class ShardProgress:
    last_batch: int = 0
    last_stream_id: str = "0-0"
    sequence: int = 0
    # Every order change up to this time (µs) is projected; 0 when unknown. Only ever
    # raised ($max), so a round that changed no order leaves it where it was.
    changed_us: int = 0


@dataclass(frozen=True, slots=True)
class Databases:
    """The matcher's two databases.

    The journal lives in a database of its own (`<MONGODB_DB>_journal`) so that the commit
    point never queues behind projection writes: FerretDB/SQLite keeps one file, and one
    write lock, per database, and a round of projection writes is up to thousands of
    statements. On MongoDB it costs nothing; the user needs readWrite on both databases.
    """

    main: Database[Doc]  # open_orders, orders, trades, matcher_state, accounts, api_keys
    journal: Collection[Doc]
    journal_parts: Collection[Doc]


def journal_db_name(db_name: str) -> str:
    return f"{db_name}_journal"


def connect(uri: str, db_name: str) -> Databases:
    # Short server selection: an outage surfaces within ~1 s and goes to the retry loop.
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000, socketTimeoutMS=120_000
    )
    journal = client[journal_db_name(db_name)]
    return Databases(client[db_name], journal["journal"], journal["journal_parts"])


def serves_queries_from_indexes(db: Database[Doc]) -> bool:
    """Whether the server can use an index on a field other than `_id`. FerretDB's SQLite
    backend cannot: it pushes down `{"_id": ...}` alone and filters everything else in Go
    after a scan, and says so in `explain` (`filterPushdown: false`). There a secondary
    index only costs each insert and delete its expression (orders: 84 -> 62 µs an insert
    without theirs, trades 50 -> 40 µs; docs/MONGODB.md). MongoDB's explain has no such
    field: it does use them."""
    explained = db.command("explain", {"find": "open_orders", "filter": {"account": ""}})
    return explained.get("filterPushdown") is not False


def ensure_indexes(dbs: Databases) -> None:
    """Create collections and indexes; idempotent (create_index on an existing one is a no-op)."""
    db = dbs.main
    existing = set(db.list_collection_names())
    for name in ("open_orders", "orders", "trades", "matcher_state", "accounts", "api_keys"):
        if name not in existing:
            try:
                db.create_collection(name)
            except CollectionInvalid:
                pass  # another matcher created it meanwhile (pymongo's own check)
            except OperationFailure as exc:
                if exc.code != NAMESPACE_EXISTS:  # ... or the server's
                    raise
    if serves_queries_from_indexes(db):
        db.orders.create_index([("account", ASCENDING), ("created_at", DESCENDING)])
        db.orders.create_index([("symbol", ASCENDING), ("status", ASCENDING)])
        db.open_orders.create_index([("account", ASCENDING), ("created_at", DESCENDING)])
        db.open_orders.create_index([("symbol", ASCENDING)])
        dbs.journal.create_index([("shard", ASCENDING), ("batch", ASCENDING)])
        dbs.journal.create_index([("shard", ASCENDING), ("received_max", ASCENDING)])
        dbs.journal_parts.create_index([("shard", ASCENDING), ("batch", ASCENDING)])
        db.trades.create_index([("symbol", ASCENDING), ("sequence", ASCENDING)])
        db.trades.create_index([("bid_order_id", ASCENDING)])
        db.trades.create_index([("ask_order_id", ASCENDING)])
    # Unique indexes are constraints, not speed-ups: created on every server.
    db.api_keys.create_index([("key_hash", ASCENDING)], unique=True)
    db.accounts.create_index([("account", ASCENDING)], unique=True)


def journal_id(shard: int, batch: int) -> str:
    return f"{shard}:{batch}"


def insert_journal(
    dbs: Databases, doc: Doc, parts: Sequence[Doc] = (), fence: Fence = UNFENCED
) -> None:
    """Insert a batch's parts, then its journal document (the commit point);
    FencedOutError when another writer owns that batch number.

    A retry after a lost reply can meet its own earlier insert: the `writer` token, new
    for every leadership stint, tells that case (carry on) from a real conflict (stop).
    Part ids carry the token too, so parts of two writers never collide.
    """
    insert_new(dbs.journal_parts, list(parts), fence)  # the driver splits at 48 MB
    journal = dbs.journal
    try:
        fence(partial(journal.insert_one, doc))
    except DuplicateKeyError:
        existing = journal.find_one({"_id": doc["_id"]}, {"writer": 1})
        if existing is None or existing.get("writer") != doc["writer"]:
            raise FencedOutError(
                f"journal batch {doc['_id']} was written by another matcher"
            ) from None


def last_journal(journal: Collection[Doc], shard: int) -> Doc | None:
    """The newest journal batch of `shard` (its payload left out)."""
    fields = {"batch": 1, "dedupe_floor": 1, "received_newest": 1}
    return journal.find_one({"shard": shard}, fields, sort=[("batch", DESCENDING)])


def recent_journal(
    dbs: Databases, shard: int, from_batch: int, received_above: int
) -> list[tuple[Doc, list[bytes] | None]]:
    """Journal batches of `shard` numbered `from_batch` or above, or holding a command
    received after `received_above`, in batch order, each with its parts' data (start-up
    only)."""
    recent = {"$or": [{"batch": {"$gte": from_batch}}, {"received_max": {"$gt": received_above}}]}
    found = sorted(dbs.journal.find({"shard": shard, **recent}), key=lambda d: int(d["batch"]))
    loaded: list[tuple[Doc, list[bytes] | None]] = []
    for doc in found:
        parts: list[bytes] | None = None
        if "parts" in doc:
            by_id = {p["_id"]: bytes(p["data"]) for p in dbs.journal_parts.find(
                {"_id": {"$in": doc["parts"]}})}  # fmt: skip
            parts = [by_id[i] for i in doc["parts"] if i in by_id]
        loaded.append((doc, parts))
    return loaded


def prune_journal(
    dbs: Databases, shard: int, upto_batch: int, received_upto: int, fence: Fence = UNFENCED
) -> None:
    """Delete journal batches that are projected (< `upto_batch`, the last projected one
    stays: recovery reads the dedupe floor from the newest batch) and whose commands the
    dedupe memory has let go of (all received at or before `received_upto`), with their
    parts (and parts of batches never committed, which carry such numbers too)."""
    old = {"shard": shard, "batch": {"$lt": upto_batch}}
    fence(partial(dbs.journal.delete_many, {**old, "received_max": {"$lte": received_upto}}))
    oldest_kept = dbs.journal.find_one({"shard": shard}, {"batch": 1}, sort=[("batch", 1)])
    below = upto_batch - 1 if oldest_kept is None else int(oldest_kept["batch"]) - 1
    fence(partial(dbs.journal_parts.delete_many, {"shard": shard, "batch": {"$lte": below}}))


# Documents per insert_many call. pymongo encodes a whole call to BSON holding the GIL;
# small calls let the matching loop's thread run in between.
INSERT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Chunks:
    """Documents (inserts) and statements (deletes) per driver call."""

    inserts: int = INSERT_CHUNK
    deletes: int = DELETE_CHUNK


FULL_CHUNKS = Chunks()


def insert_new(
    collection: Collection[Doc], docs: list[Doc], fence: Fence = UNFENCED, size: int = INSERT_CHUNK
) -> list[Doc]:
    """insert_many in chunks of `size`; returns the documents whose _id already existed
    (a redo)."""
    existed: list[Doc] = []
    for start in range(0, len(docs), size):
        chunk = docs[start : start + size]
        try:
            fence(partial(collection.insert_many, chunk, ordered=False))
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            existed += [chunk[e["index"]] for e in errors]
    return existed


def delete_ids(
    collection: Collection[Doc], ids: list[str], fence: Fence = UNFENCED, size: int = DELETE_CHUNK
) -> None:
    """One `{"_id": id}` delete statement per id, not one `$in`: the local FerretDB serves
    exactly that filter from the `_id` index (devstack/ferretdb.py), and scans the whole
    collection for any other. On MongoDB both are index seeks."""
    for start in range(0, len(ids), size):
        chunk = [DeleteOne({"_id": i}) for i in ids[start : start + size]]
        fence(partial(collection.bulk_write, chunk, ordered=False))


def insert_trades(
    db: Database[Doc], trades: list[Doc], fence: Fence = UNFENCED, size: int = INSERT_CHUNK
) -> None:
    # A trade already there on a redo has the same _id and the same content: skip it.
    insert_new(db.trades, trades, fence, size)


def take_over(db: Database[Doc], shard: int, fence: Fence = UNFENCED) -> int:
    """Start a leadership stint: raise the shard's epoch; returns the stint's epoch. From
    then on no earlier stint can move the progress document."""
    doc = fence(
        partial(
            db.matcher_state.find_one_and_update,
            {"_id": f"shard:{shard}"},
            {"$inc": {"epoch": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    )
    assert doc is not None  # upsert=True with AFTER always returns the document
    return int(doc["epoch"])


def read_progress(db: Database[Doc], shard: int) -> ShardProgress:
    doc = db.matcher_state.find_one({"_id": f"shard:{shard}"})
    if doc is None or "last_batch" not in doc:
        return ShardProgress()
    return ShardProgress(
        int(doc["last_batch"]),
        str(doc["last_stream_id"]),
        int(doc["sequence"]),
        int(doc.get("changed_us", 0)),
    )


def write_progress(
    db: Database[Doc],
    shard: int,
    progress: ShardProgress,
    writer: str,
    epoch: int,
    fence: Fence = UNFENCED,
) -> None:
    """Move the progress document, only while `epoch` is still the shard's newest."""
    state = {
        "last_batch": progress.last_batch,
        "last_stream_id": progress.last_stream_id,
        "sequence": progress.sequence,
        "writer": writer,
        "updated_at_ms": int(time.time() * 1000),
    }
    moved = fence(
        partial(
            db.matcher_state.update_one,
            {"_id": f"shard:{shard}", "epoch": epoch},
            {"$set": state, "$max": {"changed_us": progress.changed_us}},
        )
    )
    if moved.matched_count == 0:
        raise FencedOutError(f"shard {shard} has a leader newer than epoch {epoch}")


def open_orders(db: Database[Doc], symbols: list[str]) -> list[Doc]:
    """Every live order of these symbols (start-up only)."""
    return list(db.open_orders.find({"symbol": {"$in": symbols}}))
