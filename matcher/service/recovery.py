"""Start-up recovery of one shard: finish committed batches, rebuild the books, dedupe memory.

Each step is idempotent, so a crash at any point of recovery just means it runs again:
1. the journal batches after the last one marked projected (`matcher_state`) are
   projected again, in one round written as a redo (trades, orders); those batches and
   the last one marked projected get their Redis side redone too, and only then does the
   progress document move past them (the caller does both: `Recovered.finish`), so a
   crash while republishing leaves them all to be republished next time;
2. the books are rebuilt from the open orders in MongoDB, in their original time
   priority, and the engine continues from the journal's sequence;
3. the dedupe memory is rebuilt from the journal: the last batch's floor, and the
   commands of every batch that may hold one above it, so a retried command is decided
   exactly as it would have been without the crash (matcher/service/memory.py).
The caller then re-reads the stream after the last committed entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lib.config import SymbolSpec
from lib.prices import to_ticks
from matcher.core import Instrument, MatchingEngine, RestingOrder, Side, TimeInForce
from matcher.service import faults, store
from matcher.service.documents import OrderView
from matcher.service.journal import JournalBatch
from matcher.service.memory import DedupeMemory, Remembered
from matcher.service.order_writer import OrderWriter
from matcher.service.projector import ProjectionRound
from matcher.service.state import ShardState
from matcher.service.store import ShardProgress

log = logging.getLogger("matcher")
Doc = dict[str, Any]


@dataclass(slots=True)
class Recovered:
    state: ShardState
    progress: ShardProgress  # the last committed batch
    # Committed batches whose Redis side (cache, replies, acks) may be missing: those whose
    # projections were redone, and the last one marked projected (the projector writes
    # progress after the batch's Redis side, so only it can have been cut short).
    unpublished: list[JournalBatch]
    redone: bool  # projections were redone: the progress document must move to `progress`


def instruments(specs: dict[str, SymbolSpec]) -> list[Instrument]:
    return [Instrument(s.symbol, to_ticks(s.max_price, s)) for s in specs.values()]


def new_engine(shard: int, specs: dict[str, SymbolSpec]) -> MatchingEngine:
    # The shard in the trade id prefix keeps trade ids unique across shards.
    return MatchingEngine(instruments(specs), f"T{shard}-")


def new_state(shard: int, specs: dict[str, SymbolSpec]) -> ShardState:
    return ShardState(shard, specs, new_engine(shard, specs))


def recover(
    dbs: store.Databases,
    shard: int,
    specs: dict[str, SymbolSpec],
    fence: store.Fence,
    memory: DedupeMemory,
) -> Recovered:
    db = dbs.main
    progress = store.read_progress(db, shard)
    last = store.last_journal(dbs.journal, shard)
    floor = -1 if last is None else int(last.get("dedupe_floor", -1))
    recent = [
        JournalBatch.from_document(doc, parts)
        for doc, parts in store.recent_journal(dbs, shard, progress.last_batch, floor)
    ]
    unpublished = [b for b in recent if b.batch >= progress.last_batch]
    redone = [b for b in recent if b.batch > progress.last_batch]
    if redone:
        round_ = ProjectionRound.of(redone, redo=True)
        round_.write(db, OrderWriter(db), fence)
        faults.at("recovery.redo")
        progress = round_.progress
        log.info("recovery: redid the projections of %d committed batches", len(redone))

    ended: dict[str, str] = {}  # orders the engine saw end (a refused place it never saw)
    for batch in recent:
        for doc in batch.orders:
            if doc["order_alive"]:
                ended.pop(doc["_id"], None)
            elif doc["status"] != "rejected":
                ended[doc["_id"]] = doc["account"]
    if last is not None:
        restore_memory(memory, floor, int(last.get("received_newest", 0)), recent)
    state = ShardState(shard, specs, new_engine(shard, specs), memory)
    open_docs = store.open_orders(db, list(specs))
    # An order that ended cannot be live again: a document that says so is a late write
    # (a writer paused past its lease, docs/MATCHER.md) and never comes back to the book.
    resurrected = [doc["_id"] for doc in open_docs if doc["_id"] in ended]
    if resurrected:
        log.error("recovery: %d ended orders were in open_orders; removed", len(resurrected))
        store.delete_ids(db.open_orders, resurrected, fence)
        open_docs = [doc for doc in open_docs if doc["_id"] not in ended]
    state.engine.restore(
        [_resting(doc) for doc in open_docs], progress.sequence, ended_orders=ended.items()
    )
    for doc in open_docs:
        state.views[doc["_id"]] = OrderView.from_doc(doc)
    log.info(
        "recovery: shard %d at batch %d, sequence %d, %d open orders",
        shard,
        progress.last_batch,
        progress.sequence,
        len(open_docs),
    )
    return Recovered(state, progress, unpublished, bool(redone))


def restore_memory(
    memory: DedupeMemory, floor: int, newest: int, batches: list[JournalBatch]
) -> None:
    """The dedupe memory from the newest batch's floor and newest, and the commands of the
    journal batches that may hold one received above the floor, oldest first."""
    remembered: list[tuple[Remembered, dict[str, Any]]] = []
    for batch in batches:
        remembered += [(r, batch.replies[r.command_id]) for r in batch.remembered]
    memory.restore(floor, newest, remembered)


def _resting(doc: Doc) -> RestingOrder:
    return RestingOrder(
        order_id=doc["_id"],
        account=doc["account"],
        symbol=doc["symbol"],
        side=Side.BUY if doc["side"] == "buy" else Side.SELL,
        price=int(doc["price_ticks"]),
        quantity=int(doc["order_quantity"]),
        traded_quantity=int(doc["traded_quantity"]),
        traded_notional=int(doc["traded_notional"]),
        priority=int(doc["priority"]),
        time_in_force=TimeInForce(doc["time_in_force"]),
        post_only=bool(doc["post_only"]),
        client_order_id=doc.get("client_order_id"),
    )
