"""Write order documents (one per touched order, last state wins) to the two order
collections:

- `open_orders`: the live orders (open, partially filled) - about the size of the books;
- `orders`: every order that has ended (filled, cancelled, rejected), written once, when
  it ends, and never changed again.

Why two: measured on FerretDB 1.24 / SQLite (docs/MONGODB.md), inserts cost the same at
any collection size, but every update or delete - by `_id` too - scans the whole
collection. Splitting keeps every scan to the live orders, whatever the history grows to;
history only ever gets inserts. On MongoDB the same writes are index look-ups either way.

Live orders that changed are swapped (one delete_many `$in`, then inserts) rather than
replaced one by one: one scan per round instead of one per order. A swap is not atomic:
for a moment an order may be in neither collection (the API reads the Redis cache
first), and a crash in between is repaired by recovery, which redoes the round from the
journal (the progress document has not moved yet). An order that has just ended may
likewise be in both for a moment; readers prefer `orders`.
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from matcher.service.store import insert_new

Doc = dict[str, Any]


class OrderWriter:
    def __init__(self, db: Database[Doc]) -> None:
        self._open = db.open_orders
        self._history = db.orders

    def write(self, docs: list[Doc], new_ids: set[str]) -> None:
        ended = [d for d in docs if not d["order_alive"]]
        live = [d for d in docs if d["order_alive"]]
        # History first: a crash after it leaves the order in both, never in neither.
        insert_new(self._history, ended)  # on a redo the same final state is already there
        changed = [d for d in live if d["_id"] not in new_ids]
        changed += insert_new(self._open, [d for d in live if d["_id"] in new_ids])
        stale = [d["_id"] for d in ended if d["_id"] not in new_ids] + [d["_id"] for d in changed]
        if stale:
            self._open.delete_many({"_id": {"$in": stale}})
        insert_new(self._open, changed)
