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

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from matcher.service import store
from matcher.service.journal import JournalBatch
from matcher.service.metrics import Metrics
from matcher.service.order_writer import OrderWriter
from matcher.service.retry import GaveUpError, retry
from matcher.service.store import ShardProgress

log = logging.getLogger("matcher")
Doc = dict[str, Any]
# Bounds in commands, not batches: under light load a batch is one or two commands.
MAX_BACKLOG = 50_000  # commands queued: bounds memory and what recovery may have to redo
MAX_ROUND = 20_000  # commands merged into one round of writes
# A round waits this long for more batches (or until MAX_ROUND commands wait): on
# FerretDB every round scans `orders` once, so fewer, larger rounds cost far less CPU,
# and that CPU is shared with the loop. It is also the usual lag of the projections.
ROUND_DELAY_S = 1.0
PROJECTOR_NICE = 10
PRUNE_EVERY_S = 60.0  # between two deletions of old journal documents


class Projector:
    def __init__(
        self,
        dbs: store.Databases,
        shard: int,
        writer_token: str,
        may_write: Callable[[], bool],
        metrics: Metrics,
        journal_kept_s: int,
    ) -> None:
        self.db = dbs.main
        self.journal = dbs.journal
        self.shard = shard
        self.token = writer_token
        self.may_write = may_write  # False once the lease is gone: stop writing at once
        self.metrics = metrics
        self.orders = OrderWriter(dbs.main)
        # Projected journal batches older than this are no longer needed by recovery (it
        # redoes only unprojected ones and reads this much history for the dedupe memory).
        self.journal_kept_s = journal_kept_s
        self._pruned_at = time.monotonic()
        self._backlog: deque[JournalBatch] = deque()
        self._queued = 0  # commands in the backlog
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
            while self._queued >= MAX_BACKLOG and self.failed is None:
                self._changed.wait(0.1)
            if self.failed is not None:
                raise GaveUpError(f"projector stopped: {self.failed}")
            self._backlog.append(batch)
            self._queued += len(batch.stream_ids)
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
            self._queued = 0
            self._changed.notify_all()
        self._thread.join(30)

    def _run(self) -> None:
        # Linux nices threads one by one: the loop, which clients wait for, gets the CPU
        # first when both want it.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PROJECTOR_NICE)
        try:
            while True:
                with self._changed:
                    while not self._backlog and not self._closing:
                        self._changed.wait()
                    if not self._backlog:
                        return
                    deadline = self._backlog[0].committed_at + ROUND_DELAY_S
                    while (
                        not self._closing
                        and self._queued < MAX_ROUND
                        and (left := deadline - time.monotonic()) > 0
                    ):
                        self._changed.wait(left)
                    round_ = self._next_round()
                self._project(round_)
                with self._changed:
                    for _ in round_:
                        if self._backlog:  # abandon() may have emptied it meanwhile
                            self._queued -= len(self._backlog.popleft().stream_ids)
                    self.metrics.projection_backlog = len(self._backlog)
                    self._changed.notify_all()
        except BaseException as exc:  # surfaces in the loop through submit()
            log.error("projector stopped: %s", exc)
            with self._changed:
                self.failed = exc
                self._changed.notify_all()

    def _next_round(self) -> list[JournalBatch]:
        """The oldest waiting batches, up to MAX_ROUND commands (at least one batch)."""
        round_: list[JournalBatch] = []
        commands = 0
        for batch in self._backlog:
            if round_ and commands + len(batch.stream_ids) > MAX_ROUND:
                break
            round_.append(batch)
            commands += len(batch.stream_ids)
        return round_

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
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            before = time.time_ns() - self.journal_kept_s * 10**9
            step(
                "journal pruning",
                lambda: store.prune_journal(self.journal, self.shard, last.batch, before),
            )
            self._pruned_at = time.monotonic()
        m = self.metrics
        m.projected_batch = last.batch
        m.record_projection(len(batches), (time.perf_counter() - started) * 1000)

    def _count_retry(self) -> None:
        self.metrics.retries += 1
