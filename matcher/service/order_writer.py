"""Write order documents (one per touched order, last state wins) to the two order
collections:

- `open_orders`: the live orders (open, partially filled) - about the size of the books;
- `orders`: every order that has ended (filled, cancelled, rejected), written once, when
  it ends, and never changed again.

Why two: measured on FerretDB 1.24 / SQLite (docs/MONGODB.md), inserts cost the same at
any collection size and a filter of `_id` alone is an index seek, but any other filter
scans the whole collection. Recovery reads the live orders by symbol: splitting keeps
that scan to the live orders, whatever the history grows to; history only ever gets
inserts. On MongoDB the same reads and writes are index look-ups either way.

Live orders that changed are swapped (one `{"_id": id}` delete statement each, then
inserts) rather than replaced: FerretDB deadlocks on an update command of 100 statements,
while deletes by `_id` go up to 1,000 to a call (store.DELETE_CHUNK) and inserts cost the same
at any size. A swap is not atomic: for a moment an order may be in neither collection (the
API reads the Redis cache first), and a crash in between is repaired by recovery, which
redoes the round from the journal (the progress document has not moved yet). An order
that has just ended may likewise be in both for a moment; readers prefer `orders`.

A redone round (`redo=True`) assumes nothing about what an earlier, cut-short attempt
wrote: an order new in the round may already be in `open_orders`, so every live order is
swapped and every ended one deleted from `open_orders`.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.database import Database

from matcher.service import faults
from matcher.service.store import FULL_CHUNKS, Chunks, Fence, delete_ids, insert_new

log = logging.getLogger("matcher")
Doc = dict[str, Any]


class OrderWriter:
    def __init__(self, db: Database[Doc]) -> None:
        self._open = db.open_orders
        self._history = db.orders

    def write(
        self,
        docs: list[Doc],
        new_ids: set[str],
        fence: Fence,
        redo: bool,
        chunks: Chunks = FULL_CHUNKS,
    ) -> None:
        """Each driver call is fenced; each write is followed by its fault point."""
        ended = [d for d in docs if not d["order_alive"]]
        live = [d for d in docs if d["order_alive"]]
        if redo:
            new_ids = set()
        # History first: a crash after it leaves the order in both, never in neither.
        existed = insert_new(self._history, ended, fence, chunks.inserts)
        faults.at("projection.history")
        if existed and not redo:
            # An ended order is written once; a second final state means an order id was
            # used twice beyond the dedupe window (docs/MATCHER.md) - keep the first.
            log.error("orders already ended, kept as they were: %s", [d["_id"] for d in existed])
        changed = [d for d in live if d["_id"] not in new_ids]
        fresh = [d for d in live if d["_id"] in new_ids]
        changed += insert_new(self._open, fresh, fence, chunks.inserts)
        faults.at("projection.open_new")
        stale = [d["_id"] for d in ended if redo or d["_id"] not in new_ids]
        stale += [d["_id"] for d in changed]
        delete_ids(self._open, stale, fence, chunks.deletes)
        faults.at("projection.open_delete")
        insert_new(self._open, changed, fence, chunks.inserts)
        faults.at("projection.open_insert")
