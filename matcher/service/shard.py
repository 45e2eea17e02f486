"""The service loop of one shard: read a batch, apply it, commit it, publish it, acknowledge it.

    standby ── lease acquired ──► recover ──► loop: read → apply → journal (commit point)
       ▲                                           → Redis cache, replies, XACK/XTRIM
       └──── lease lost / gave up mid-batch ◄───── → real-time hook
                                                   → projector thread: orders, trades,
                                                     progress (coalesced, in batch order)

Nothing reaches a client (reply, cache, Socket.IO) before the batch's journal document is
in MongoDB. Everything after that point is idempotent and is redone from the journal by
recovery if the process dies, so the loop may give up at any step: the in-memory engine
is then thrown away and rebuilt from MongoDB, never trusted half-applied.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lib import keys
from lib.config import Settings
from matcher.service import store, stream
from matcher.service.batch import Entry, ShardState
from matcher.service.committer import Applied, Committer
from matcher.service.journal import JournalBatch
from matcher.service.lease import Lease
from matcher.service.metrics import Metrics
from matcher.service.order_writer import OrderWriter
from matcher.service.projector import Projector
from matcher.service.realtime import NoRealtime, RealtimeHook
from matcher.service.recovery import recover
from matcher.service.retry import GaveUpError, retry
from matcher.service.store import FencedOutError, ShardProgress
from matcher.service.stream import CommandStream, stream_id_key

log = logging.getLogger("matcher")
MIN_BLOCK_MS = 10


class LeaseLostError(Exception):
    """This process may no longer write for the shard; drop the state and stand by."""


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    shard: int = 0
    max_batch: int = 1000  # commands per batch under load; one when the stream is quiet
    block_ms: int = 500  # longest blocking read: bounds the reaction to SIGTERM
    lease_ms: int = 3000
    renew_ms: int = 1000
    # How long the journal is kept after projection, and so how late a retried command
    # is still recognised after a restart (the reply keys live as long).
    dedupe_seconds: int = keys.REPLY_TTL_SECONDS


class ShardService:
    def __init__(
        self,
        settings: Settings,
        options: ServiceOptions,
        realtime: RealtimeHook | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.options = options
        self.shard = options.shard
        self.specs = {
            spec.symbol: spec
            for spec in settings.symbols
            if settings.shard_of(spec.symbol) == options.shard
        }
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.redis = stream.connect(settings.need("redis_url"))
        self.dbs = store.connect(settings.need("mongodb_uri"), settings.mongodb_db)
        self.realtime = realtime or NoRealtime()
        self.metrics = metrics or Metrics(options.shard)
        self.metrics.consumer = self.token
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Finish the batch in hand, then leave `run` (safe from a signal handler)."""
        self.stopping.set()

    def run(self) -> int:
        """Serve the shard until `stop()`; returns the process exit status."""
        self._retry(
            "create collections and indexes", lambda: store.ensure_indexes(self.dbs), self._go
        )
        while not self.stopping.is_set():
            lease = Lease(
                self.redis, self.shard, self.token, self.options.lease_ms, self.options.renew_ms
            )
            self.metrics.role = "standby"
            if not lease.acquire(self.stopping):
                break
            self.metrics.lease_holder = self.token
            try:
                self._lead(lease)
            except (LeaseLostError, GaveUpError) as exc:
                log.warning("stopped leading shard %d (%s); state dropped", self.shard, exc)
            except FencedOutError as exc:
                log.error("fenced out: %s; exiting so that only one writer remains", exc)
                return 3
            finally:
                lease.release()
                self.metrics.lease_holder = ""
        self.metrics.role = "stopped"
        return 0

    # ------------------------------------------------------------------ leading

    def _retry[T](self, what: str, step: Callable[[], T], keep_going: Callable[[], bool]) -> T:
        return retry(what, step, keep_going, self._count_retry)

    def _count_retry(self) -> None:
        self.metrics.retries += 1

    def _go(self) -> bool:
        return not self.stopping.is_set()

    def _lead(self, lease: Lease) -> None:
        self.metrics.role = "recovering"
        commands = CommandStream(self.redis, self.shard, self.token)
        writer = OrderWriter(self.dbs.main)

        def leading() -> bool:
            return self._go() and lease.valid()

        self._retry("create the consumer group", commands.ensure_group, leading)
        self._retry("claim pending entries", commands.claim_all_pending, leading)
        self._retry("forget dead consumers", commands.forget_other_consumers, leading)
        recovered = self._retry(
            "recover",
            lambda: recover(
                self.dbs, self.shard, self.specs, writer, self.token, self.options.dedupe_seconds
            ),
            leading,
        )
        state, progress = recovered.state, recovered.progress
        for batch in recovered.unpublished:
            self._retry("republish a recovered batch", partial(commands.publish, batch), leading)
        depth = {s: state.depth_snapshot(s, time.time_ns()) for s in self.specs}
        self._retry("publish depth", lambda: commands.publish_depth(depth), leading)
        # What recovery built lives as long as the books: keep it out of the collector's
        # generations so full collections stay short.
        gc.collect()
        gc.freeze()
        self.metrics.role = "leader"
        self.metrics.last_batch, self.metrics.sequence = progress.last_batch, progress.sequence
        log.info("leading shard %d as %s", self.shard, self.token)

        projector = Projector(
            self.dbs, self.shard, self.token, lease.valid, self.metrics, self.options.dedupe_seconds
        )
        self.metrics.projected_batch = progress.last_batch
        committer = Committer(
            self.dbs, commands, projector, self.realtime, self.metrics, lease.valid, self._go
        )
        projector.start()
        committer.start()
        try:
            self._serve(commands, committer, state, progress, lease)
            committer.close()  # commit what is applied before stopping
        except BaseException:
            # Whatever was committed is in the journal; the rest was never answered.
            committer.abandon()
            projector.abandon()
            raise
        if not projector.close(timeout=60):
            log.warning("stopping with projections still queued; recovery will redo them")

    def _serve(
        self,
        commands: CommandStream,
        committer: Committer,
        state: ShardState,
        progress: ShardProgress,
        lease: Lease,
    ) -> None:
        def leading() -> bool:
            return self._go() and lease.valid()

        pending = True  # first drain what this consumer holds (claimed at start), then new
        last_lag_check = 0.0
        while self._go():
            committer.check()
            if not lease.valid():
                raise LeaseLostError("lease expired")
            # A read must end before the lease can: a successor claims our pending entries
            # at its start, and an entry delivered to us after that would be stranded.
            block = min(self.options.block_ms, lease.remaining_ms() - lease.margin_ms)
            if block < MIN_BLOCK_MS:
                time.sleep(MIN_BLOCK_MS / 1000)  # the renewer is due; do not spin
                continue
            read = partial(commands.read, self.options.max_batch, block, pending)
            entries = self._retry("read the stream", read, leading)
            if not entries:
                pending = False
            else:
                progress = self._apply(commands, committer, state, progress, entries)
            now = time.monotonic()
            if now - last_lag_check > 1.0:
                last_lag_check = now
                self.metrics.stream_lag = self._retry("read the lag", commands.lag, leading)

    def _apply(
        self,
        commands: CommandStream,
        committer: Committer,
        state: ShardState,
        progress: ShardProgress,
        entries: list[Entry],
    ) -> ShardProgress:
        """Apply a batch and hand it to the committer; returns the progress it will make."""
        after = stream_id_key(progress.last_stream_id)
        done = [e.stream_id for e in entries if stream_id_key(e.stream_id) <= after]
        if done:  # committed before a crash, acknowledged never: only the XACK is left
            self._retry("acknowledge committed entries", lambda: commands.ack(done), self._go)
        fresh = [e for e in entries if stream_id_key(e.stream_id) > after]
        if not fresh:
            return progress
        started = time.perf_counter()
        timestamp = time.time_ns()
        result = state.apply(fresh, timestamp)
        batch = JournalBatch.of(self.shard, progress.last_batch + 1, result)
        journal = batch.document(self.token, timestamp)
        apply_ms = (time.perf_counter() - started) * 1000
        committer.submit(Applied(batch, result, journal, apply_ms))
        return ShardProgress(batch.batch, batch.last_stream_id, batch.sequence)
