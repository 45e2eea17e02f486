"""Write a batch's order documents (one per touched order, last state wins) to `orders`.

Measured on FerretDB v1.24.2 / SQLite (docs/MATCHER.md): insert_many is fast, but every
write or read *by _id* scans the whole table (its _id index is never used), so one
replace_one costs ~5 µs x collection size; a delete_many with `$in` scans once per call
(~100 µs x collection size). On MongoDB both are index look-ups. So:

- orders new in this batch are inserted (insert_many; on a redo the duplicates fall back
  to replace_one);
- orders that already existed are replaced one by one, or, when that is estimated to cost
  more than one "swap" (delete_many $in + insert_many), swapped. The estimate uses the
  latencies measured on this very server, so the choice adapts to MongoDB or FerretDB.

A swap is not atomic: for a moment the orders are absent, and a crash in between leaves
them absent until recovery redoes the batch (the journal is not yet marked applied).
"""

from __future__ import annotations

import time
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError

from matcher.service.store import DUPLICATE_KEY

Doc = dict[str, Any]
SWAP_PROBE_MS = 200.0  # try a swap once the per-document estimate passes this
EWMA = 0.2


class OrderWriter:
    def __init__(self, db: Database[Doc]) -> None:
        self._orders = db.orders
        self.replace_ms = 1.0  # running estimate of one replace_one
        self.swap_ms: float | None = None  # last measured swap of a batch
        self.swaps = 0
        self.replaces = 0

    def write(self, docs: list[Doc], new_ids: set[str]) -> None:
        fresh = [d for d in docs if d["_id"] in new_ids]
        old = [d for d in docs if d["_id"] not in new_ids]
        old.extend(self._insert_fresh(fresh))
        if not old:
            return
        estimate = len(old) * self.replace_ms
        limit = SWAP_PROBE_MS if self.swap_ms is None else self.swap_ms
        if len(old) > 1 and estimate > limit:
            self._swap(old)
        else:
            self._replace(old)

    def _insert_fresh(self, docs: list[Doc]) -> list[Doc]:
        """Insert new orders; returns those that already existed (a redo) for a replace."""
        if not docs:
            return []
        try:
            self._orders.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return [docs[e["index"]] for e in errors]
        return []

    def _replace(self, docs: list[Doc]) -> None:
        for doc in docs:
            started = time.perf_counter()
            self._orders.replace_one({"_id": doc["_id"]}, doc, upsert=True)
            took = (time.perf_counter() - started) * 1000
            self.replace_ms += EWMA * (took - self.replace_ms)
            self.replaces += 1

    def _swap(self, docs: list[Doc]) -> None:
        started = time.perf_counter()
        self._orders.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
        self._orders.insert_many(docs, ordered=False)
        self.swap_ms = (time.perf_counter() - started) * 1000
        self.swaps += 1
