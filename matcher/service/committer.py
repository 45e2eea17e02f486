"""Commits applied batches in order, in a thread beside the loop: journal insert, then the
Redis side, then the real-time hook, then the projector.

While batch N waits on MongoDB and Redis (the GIL is released during that I/O), the loop
already reads and applies batch N+1. That is safe because nothing of N+1 becomes visible
before N+1's own journal insert, and the inserts happen in batch order; if a commit
cannot be made, the loop drops its in-memory books and recovers from the journal, so a
batch applied in memory but never committed is forgotten as if it had never been read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson.errors import InvalidDocument

from matcher.service import faults, store
from matcher.service.batch import BatchResult
from matcher.service.journal import JournalBatch
from matcher.service.lease import Lease
from matcher.service.metrics import Metrics
from matcher.service.projector import Projector
from matcher.service.realtime import RealtimeHook
from matcher.service.retry import GaveUpError, retry
from matcher.service.stream import CommandStream
from matcher.service.worker import OrderedWorker

MAX_IN_FLIGHT = 2  # applied batches waiting for their commit: one committing, one ready


class UncommittableError(Exception):
    """A batch that can never be committed as it is (too large for the store): the loop
    applies its commands again one by one, and refuses the one that still cannot be."""

    def __init__(self, stream_ids: list[str], why: str) -> None:
        super().__init__(f"{len(stream_ids)} commands cannot be committed together: {why}")
        self.stream_ids = stream_ids


@dataclass(frozen=True, slots=True)
class Applied:
    batch: JournalBatch
    result: BatchResult
    journal: dict[str, Any]
    parts: list[dict[str, Any]]
    apply_ms: float


class Committer(OrderedWorker[Applied]):
    def __init__(
        self,
        dbs: store.Databases,
        commands: CommandStream,
        projector: Projector,
        realtime: RealtimeHook,
        metrics: Metrics,
        lease: Lease,
        running: Callable[[], bool],
    ) -> None:
        super().__init__("committer", MAX_IN_FLIGHT)
        self.dbs = dbs
        self.commands = commands
        self.projector = projector
        self.realtime = realtime
        self.metrics = metrics
        self.lease = lease  # invalid: never insert a journal document again
        self.running = running  # False after SIGTERM: stop retrying through an outage

    def _handle(self, items: list[Applied]) -> None:
        for applied in items:
            self._commit(applied)

    def _retry(self, what: str, step: Callable[[], None], keep_going: Callable[[], bool]) -> None:
        retry(what, step, lambda: keep_going() and not self.abandoned, self._count_retry)

    def _count_retry(self) -> None:
        self.metrics.retries += 1

    def _commit(self, applied: Applied) -> None:
        batch, result = applied.batch, applied.result
        started = time.perf_counter()
        lease = self.lease
        if self.abandoned or not lease.valid():
            raise GaveUpError("the lease ran out before the commit")
        faults.at("apply")

        def insert() -> None:
            try:
                store.insert_journal(self.dbs, applied.journal, applied.parts, lease.fenced)
            except InvalidDocument as exc:  # pymongo's DocumentTooLarge is one
                raise UncommittableError(batch.stream_ids, str(exc)) from exc

        self._retry("journal insert", insert, lambda: lease.valid() and self.running())
        faults.at("journal")
        committed = time.perf_counter()
        # Committed. Every later step is redone from the journal by recovery if this
        # process dies, so they retry through outages for as long as it runs and leads
        # (the script refuses once another stint holds the lease: LeaseLostError).
        self._retry("publish to Redis", lambda: self.commands.publish(batch), self.running)
        faults.at("publish")
        batch.emitted = self.realtime.publish(
            batch.trades, batch.depth, batch.public_orders.values()
        )
        published = time.perf_counter()
        self.projector.submit(batch)  # orders/trades projections, off the matching path
        submitted = time.perf_counter()

        m = self.metrics
        m.commands_applied += result.applied
        m.commands_duplicate += result.duplicates
        m.trades += len(batch.trades)
        m.last_batch, m.sequence = batch.batch, batch.sequence
        m.record_batch(
            len(batch.stream_ids),
            (committed - started) * 1000,
            {
                "apply": applied.apply_ms,
                "journal": (committed - started) * 1000,
                "publish": (published - committed) * 1000,
                "projection_wait": (submitted - published) * 1000,
            },
        )
