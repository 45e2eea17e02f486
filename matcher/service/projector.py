"""Writes the `orders` / `trades` projections of committed batches, off the matching path.

The loop hands each batch over right after its journal insert (the commit point) and goes
on; this thread writes the projections in batch order and then moves the shard's progress
document past them. When it falls behind it takes every waiting batch at once: an order
touched by several of them is written once, in its last state, so the slower the store
the more each write covers (group commit, one level up). Measured on FerretDB 1.24 /
SQLite, every update or delete by `_id` scans the whole collection (docs/MONGODB.md), so
one swap per round instead of one write per order is what keeps it usable at all; on
MongoDB the same writes are index look-ups.

A crash loses nothing: batches not yet projected are still in the journal, newer than the
progress document, and recovery projects them before the books are rebuilt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pymongo.database import Database

from matcher.service import store
from matcher.service.journal import JournalBatch
from matcher.service.metrics import Metrics
from matcher.service.order_writer import OrderWriter
from matcher.service.retry import GaveUpError, retry
from matcher.service.store import ShardProgress

log = logging.getLogger("matcher")
Doc = dict[str, Any]
MAX_BACKLOG = 200  # batches: bounds memory and the work recovery may have to redo
MAX_ROUND = 100  # batches merged into one round of writes
PRUNE_EVERY = 1000  # batches between two deletions of old journal documents


class Projector:
    def __init__(
        self,
        db: Database[Doc],
        shard: int,
        writer_token: str,
        may_write: Callable[[], bool],
        metrics: Metrics,
        journal_kept: int,
    ) -> None:
        self.db = db
        self.shard = shard
        self.token = writer_token
        self.may_write = may_write  # False once the lease is gone: stop writing at once
        self.metrics = metrics
        self.orders = OrderWriter(db)
        # Journal batches this far behind the projections are no longer needed by recovery
        # (it redoes only unprojected ones and reads this many for the dedupe memory).
        self.journal_kept = journal_kept
        self._pruned_at = 0
        self._backlog: deque[JournalBatch] = deque()
        self._changed = threading.Condition()
        self._closing = False
        self._abandoned = False
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="projector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: JournalBatch) -> None:
        """Queue a committed batch; waits while the backlog is full (back-pressure)."""
        with self._changed:
            while len(self._backlog) >= MAX_BACKLOG and self.failed is None:
                self._changed.wait(0.1)
            if self.failed is not None:
                raise GaveUpError(f"projector stopped: {self.failed}")
            self._backlog.append(batch)
            self.metrics.projection_backlog = len(self._backlog)
            self._changed.notify_all()

    def close(self, timeout: float = 60.0) -> bool:
        """Project what is queued, then stop; False if that did not finish in time."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive() and not self._backlog

    def abandon(self) -> None:
        """Stop without writing what is queued (the lease is gone: recovery redoes it)."""
        with self._changed:
            self._abandoned = self._closing = True
            self._backlog.clear()
            self._changed.notify_all()
        self._thread.join(30)

    def _run(self) -> None:
        try:
            while True:
                with self._changed:
                    while not self._backlog and not self._closing:
                        self._changed.wait()
                    if not self._backlog:
                        return
                    round_ = [self._backlog[i] for i in range(min(MAX_ROUND, len(self._backlog)))]
                self._project(round_)
                with self._changed:
                    for _ in round_:
                        if self._backlog:  # abandon() may have emptied it meanwhile
                            self._backlog.popleft()
                    self.metrics.projection_backlog = len(self._backlog)
                    self._changed.notify_all()
        except BaseException as exc:  # surfaces in the loop through submit()
            log.error("projector stopped: %s", exc)
            with self._changed:
                self.failed = exc
                self._changed.notify_all()

    def _project(self, batches: list[JournalBatch]) -> None:
        started = time.perf_counter()
        orders: dict[str, Doc] = {}
        new_orders: set[str] = set()
        trades: list[Doc] = []
        for batch in batches:
            for doc in batch.orders:
                orders[doc["_id"]] = doc  # the last state wins
            new_orders |= batch.new_orders
            trades.extend(batch.trades)
        last = batches[-1]
        progress = ShardProgress(last.batch, last.last_stream_id, last.sequence)

        def step(what: str, write: Callable[[], None]) -> None:
            if self._abandoned or not self.may_write():
                raise GaveUpError(f"{what}: no longer the shard's writer")
            retry(what, write, lambda: self.may_write() and not self._abandoned, self._count_retry)

        step("trades projection", lambda: store.insert_trades(self.db, trades))
        step("orders projection", lambda: self.orders.write(list(orders.values()), new_orders))
        step(
            "progress",
            lambda: store.write_progress(self.db, self.shard, progress, self.token),
        )
        if last.batch - self._pruned_at >= PRUNE_EVERY:
            step(
                "journal pruning",
                lambda: store.prune_journal(self.db, self.shard, last.batch - self.journal_kept),
            )
            self._pruned_at = last.batch
        m = self.metrics
        m.projected_batch = last.batch
        m.record_projection(len(batches), (time.perf_counter() - started) * 1000)

    def _count_retry(self) -> None:
        self.metrics.retries += 1
