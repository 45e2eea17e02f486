"""Start-up recovery of one shard: finish committed batches, rebuild the books, dedupe memory.

Each step is idempotent, so a crash at any point of recovery just means it runs again:
1. the journal batches after the last one marked projected (`matcher_state`) are
   projected again, in one round (trades, orders), and the progress document moves past
   them; those batches and the last one marked projected get their Redis side redone too;
2. the books are rebuilt from the open orders in MongoDB, in their original time
   priority, and the engine continues from the journal's sequence;
3. the dedupe memory (command replies, known order ids, recently ended orders) is
   refilled from the most recent journal batches, so a retried command that was applied
   before the crash is answered, not applied again.
The caller then re-reads the stream after the last committed entry.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from lib.config import SymbolSpec
from lib.prices import to_ticks
from matcher.core import Instrument, MatchingEngine, RestingOrder, Side, TimeInForce
from matcher.service import store
from matcher.service.batch import ShardState
from matcher.service.documents import OrderView
from matcher.service.journal import JournalBatch
from matcher.service.order_writer import OrderWriter
from matcher.service.projector import ProjectionRound
from matcher.service.store import ShardProgress

log = logging.getLogger("matcher")
Doc = dict[str, Any]


@dataclass(slots=True)
class Recovered:
    state: ShardState
    progress: ShardProgress
    # Committed batches whose Redis side (cache, replies, acks) may be missing: those whose
    # projections were redone, and the last one marked applied - batches run one at a time,
    # so only the newest can have been cut short between its progress write and Redis.
    unpublished: list[JournalBatch]


def instruments(specs: dict[str, SymbolSpec]) -> list[Instrument]:
    return [Instrument(s.symbol, to_ticks(s.max_price, s)) for s in specs.values()]


def new_state(shard: int, specs: dict[str, SymbolSpec]) -> ShardState:
    # The shard in the trade id prefix keeps trade ids unique across shards.
    return ShardState(shard, specs, MatchingEngine(instruments(specs), f"T{shard}-"))


def recover(
    dbs: store.Databases,
    shard: int,
    specs: dict[str, SymbolSpec],
    writer: OrderWriter,
    token: str,
    dedupe_seconds: int,
) -> Recovered:
    db = dbs.main
    progress = store.read_progress(db, shard)
    recent = [
        JournalBatch.from_document(doc)
        for doc in store.recent_journal(
            dbs.journal, shard, progress.last_batch, time.time_ns() - dedupe_seconds * 10**9
        )
    ]
    unpublished = [b for b in recent if b.batch >= progress.last_batch]
    redone = [b for b in recent if b.batch > progress.last_batch]
    if redone:
        round_ = ProjectionRound.of(redone)
        round_.write(db, writer)
        progress = round_.progress
        store.write_progress(db, shard, progress, token)
        log.info("recovery: redid the projections of %d committed batches", len(redone))

    state = new_state(shard, specs)
    open_docs = store.open_orders(db, list(specs))
    ended: dict[str, str] = {}
    for batch in recent:
        for doc in batch.orders:
            if not doc["order_alive"]:
                ended[doc["_id"]] = doc["account"]
            else:
                ended.pop(doc["_id"], None)
        for command_id, reply in batch.replies.items():
            state.results.add(command_id, reply)
        for order_id in batch.new_orders:
            state.known_orders.add(order_id)
    state.engine.restore(
        [_resting(doc) for doc in open_docs], progress.sequence, ended_orders=ended.items()
    )
    for doc in open_docs:
        state.views[doc["_id"]] = OrderView.from_doc(doc)
        state.known_orders.add(doc["_id"])
    log.info(
        "recovery: shard %d at batch %d, sequence %d, %d open orders",
        shard,
        progress.last_batch,
        progress.sequence,
        len(open_docs),
    )
    return Recovered(state, progress, unpublished)


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
