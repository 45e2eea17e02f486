"""Writes the `orders` / `trades` projections of committed batches, off the matching path.

The loop hands each batch over right after its journal insert (the commit point) and goes
on; this thread writes the projections in batch order and then moves the shard's progress
document past them. When it falls behind it takes every waiting batch at once: an order
touched by several of them is written once, in its last state, so the slower the store
the more each write covers (group commit, one level up). Its projection writes are
inserts and deletes by `_id` alone: on FerretDB 1.24 / SQLite the only writes that
neither scan a collection nor must come in small batches (docs/MONGODB.md); on MongoDB
any write by `_id` would do.

A crash loses nothing: batches not yet projected are still in the journal, newer than the
progress document, and recovery projects them before the books are rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from matcher.service import faults, store
from matcher.service.journal import JournalBatch
from matcher.service.lease import Lease
from matcher.service.metrics import Metrics
from matcher.service.order_writer import OrderWriter
from matcher.service.realtime import wait_emitted
from matcher.service.retry import GaveUpError, retry
from matcher.service.store import ShardProgress
from matcher.service.worker import OrderedWorker

Doc = dict[str, Any]
# Bounds in commands, not batches: under light load a batch is one or two commands.
MAX_BACKLOG = 50_000  # commands queued: bounds memory and what recovery may have to redo
MAX_ROUND = 20_000  # commands merged into one round of writes
# A round waits this long for more batches (or until MAX_ROUND commands wait): fewer,
# larger rounds write an order touched many times once and make fewer calls to MongoDB,
# so they cost less CPU, and that CPU is shared with the loop. It is also the usual lag
# of the projections.
ROUND_DELAY_S = 1.0
PROJECTOR_NICE = 10
# While it keeps up (fewer commands than this waiting), the projector writes in small calls
# and rests after each as long as it took: the store then spends at most half its time on
# projections at any moment, instead of a burst each round that the journal inserts, which
# every reply waits for, queue behind on shared cores (docs/BENCHMARKS.md: steady 1,000/s
# p99 21 -> 15 ms). Behind, it writes in full-size calls and never rests.
PACE_BELOW = 5_000
PACED_CHUNKS = store.Chunks(inserts=50, deletes=50)
PRUNE_EVERY_S = 60.0  # between two deletions of old journal documents


@dataclass(frozen=True, slots=True)
class ProjectionRound:
    """Batches merged into one round of writes: every trade, and each order's last state
    (an order touched by several batches is written once)."""

    trades: list[Doc]
    orders: list[Doc]
    new_orders: set[str]
    progress: ShardProgress  # where the shard stands once the round is written
    redo: bool  # recovery's: an earlier attempt may have written part of it

    @classmethod
    def of(cls, batches: list[JournalBatch], redo: bool = False) -> ProjectionRound:
        orders: dict[str, Doc] = {}
        new_orders: set[str] = set()
        trades: list[Doc] = []
        for batch in batches:
            for doc in batch.orders:
                orders[doc["_id"]] = doc
            new_orders |= batch.new_orders
            trades.extend(batch.trades)
        return cls(trades, list(orders.values()), new_orders, cls.progress_of(batches), redo)

    @staticmethod
    def progress_of(batches: list[JournalBatch]) -> ShardProgress:
        last = batches[-1]
        changed_us = max(
            (int(doc["updated_ns"]) // 1000 for b in batches for doc in b.orders), default=0
        )
        return ShardProgress(last.batch, last.last_stream_id, last.sequence, changed_us)

    def write(
        self,
        db: Database[Doc],
        orders: OrderWriter,
        fence: store.Fence,
        chunks: store.Chunks = store.FULL_CHUNKS,
    ) -> None:
        """Idempotent: recovery writes a round cut short by a crash again, as a redo."""
        store.insert_trades(db, self.trades, fence, chunks.inserts)
        faults.at("projection.trades")
        orders.write(self.orders, self.new_orders, fence, self.redo, chunks)


class Projector(OrderedWorker[JournalBatch]):
    def __init__(
        self,
        dbs: store.Databases,
        shard: int,
        lease: Lease,
        epoch: int,
        metrics: Metrics,
    ) -> None:
        super().__init__("projector", MAX_BACKLOG)
        self.dbs = dbs
        self.db = dbs.main
        self.shard = shard
        self.lease = lease  # every write is fenced by it; invalid: stop writing at once
        self.epoch = epoch
        self.metrics = metrics
        self.orders = OrderWriter(dbs.main)
        self._pruned_at = time.monotonic()

    def submit(self, item: JournalBatch) -> None:
        super().submit(item)
        self.metrics.projection_backlog = len(self._queue)

    def _size(self, item: JournalBatch) -> int:
        return len(item.stream_ids)  # commands: under light load a batch is one or two

    def _on_start(self) -> None:
        # Linux nices threads one by one: the loop, which clients wait for, gets the CPU
        # first when both want it.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PROJECTOR_NICE)

    def _take(self) -> list[JournalBatch]:
        """Wait up to ROUND_DELAY_S for more batches, then the oldest, up to MAX_ROUND
        commands (at least one batch)."""
        deadline = self._queue[0].committed_at + ROUND_DELAY_S
        while (
            not self._closing
            and self.queued < MAX_ROUND
            and (left := deadline - time.monotonic()) > 0
        ):
            self._changed.wait(left)
        round_: list[JournalBatch] = []
        commands = 0
        for batch in self._queue:
            if round_ and commands + len(batch.stream_ids) > MAX_ROUND:
                break
            round_.append(batch)
            commands += len(batch.stream_ids)
        return round_

    def _handle(self, items: list[JournalBatch]) -> None:
        self._project(items)
        self.metrics.projection_backlog = len(self._queue) - len(items)

    def _project(self, batches: list[JournalBatch]) -> None:
        if not batches:  # abandon() emptied the queue meanwhile
            return
        started = time.perf_counter()
        last = batches[-1]
        lease = self.lease
        if self.abandoned or not lease.valid():
            raise GaveUpError("projections: no longer the shard's writer")
        # Each write is retried on its own (`_fence`), so a round is never started over in
        # this stint; one cut short by a crash is redone by recovery, as a redo.
        projection = ProjectionRound.of(batches)
        if self.queued < PACE_BELOW:
            projection.write(self.db, self.orders, self._paced, PACED_CHUNKS)
        else:
            projection.write(self.db, self.orders, self._fence)
        faults.at("progress.before")
        wait_emitted(
            (batch.emitted for batch in batches), lambda: lease.valid() and not self.abandoned
        )
        progress = projection.progress
        self._write(
            "progress",
            lambda: store.write_progress(
                self.db, self.shard, progress, lease.token, self.epoch, lease.fenced
            ),
        )
        faults.at("progress.after")
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            store.prune_journal(self.dbs, self.shard, last.batch, last.dedupe_floor, self._fence)
            self._pruned_at = time.monotonic()
        m = self.metrics
        m.projected_batch = last.batch
        m.record_projection(len(batches), (time.perf_counter() - started) * 1000)

    def _count_retry(self) -> None:
        self.metrics.retries += 1

    def _fence[T](self, write: Callable[[], T]) -> T:
        return self._write("projection write", write)

    def _paced[T](self, write: Callable[[], T]) -> T:
        started = time.monotonic()
        result = self._fence(write)
        if not self._closing:  # a clean stop (or abandon) does not wait for the rests
            time.sleep(time.monotonic() - started)
        return result

    def _write[T](self, what: str, write: Callable[[], T]) -> T:
        """One write, started while the lease holds and retried on its own through lost
        replies and outages until it is done or the lease is gone."""
        lease = self.lease
        return retry(
            what,
            lambda: lease.gated(write),
            lambda: lease.valid() and not self.abandoned,
            self._count_retry,
        )
