"""The service loop of one shard: read a batch, apply it, commit it, publish it, acknowledge it.

    standby ── lease acquired ──► take over (epoch, pending entries) ──► recover
       ▲                            ──► loop: read → apply → journal (commit point)
       │                                      → Redis cache, replies, XACK/XTRIM (one script)
       └── lease lost / fenced / gave up ◄─── → real-time hook
           (or a batch too large: retried       → projector thread: orders, trades,
            one command at a time)                progress (coalesced, in batch order)

Nothing reaches a client (reply, cache, Socket.IO) before the batch's journal document is
in MongoDB. Everything after that point is idempotent and is redone from the journal by
recovery if the process dies, so the loop may give up at any step: the in-memory engine
is then thrown away and rebuilt from MongoDB, never trusted half-applied.

Each leadership stint has a token of its own and an epoch; every write of the stint is
fenced by them (docs/MATCHER.md, "Failure model"), so a matcher that lost its lease while
paused can write nothing that survives once it resumes.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lib import keys
from lib.config import Settings
from matcher.service import faults, store, stream
from matcher.service.batch import Entry
from matcher.service.committer import Applied, Committer, UncommittableError
from matcher.service.journal import JournalBatch
from matcher.service.lease import Lease, LeaseLostError, stint_token
from matcher.service.memory import DEFAULT_CAPACITY, DedupeMemory
from matcher.service.metrics import Metrics
from matcher.service.projector import Projector
from matcher.service.realtime import NoRealtime, RealtimeHook, wait_emitted
from matcher.service.recovery import recover
from matcher.service.retry import GaveUpError, retry
from matcher.service.state import ShardState
from matcher.service.store import FencedOutError, ShardProgress
from matcher.service.stream import CommandStream, StreamReader, stream_id_key

log = logging.getLogger("matcher")


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    shard: int = 0
    max_batch: int = 1000  # commands per batch under load; one when the stream is quiet
    block_ms: int = 500  # longest blocking read: bounds the reaction to SIGTERM
    lease_ms: int = 3000
    renew_ms: int = 1000
    # The dedupe memory (matcher/service/memory.py): the last this-many commands received
    # within this window of the newest; the reply keys live as long as the window.
    dedupe_commands: int = DEFAULT_CAPACITY
    dedupe_window_ms: int = keys.REPLY_TTL_SECONDS * 1000
    # A batch whose journal payload is larger is applied again one command at a time, and
    # a single command whose effects are larger is refused (`too_large`): memory, not the
    # store, is the limit once large payloads are written in parts.
    max_commit_bytes: int = 256 * 1024 * 1024


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
        self.redis = stream.connect(settings.need("redis_url"))
        self.dbs = store.connect(settings.need("mongodb_uri"), settings.mongodb_db)
        self.realtime = realtime or NoRealtime()
        self.metrics = metrics or Metrics(options.shard)
        self.stopping = threading.Event()
        # Stream ids of a batch found too large to commit: applied one per batch next time;
        # and of single commands too large even alone: refused when applied again.
        self.isolate: set[str] = set()
        self.refuse: set[str] = set()

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
                self.redis,
                self.shard,
                stint_token(),
                self.options.lease_ms,
                self.options.renew_ms,
            )
            self.metrics.role = "standby"
            self.metrics.consumer = lease.token
            if not lease.acquire(self.stopping):
                break
            self.metrics.lease_holder = lease.token
            try:
                self._lead(lease)
            except (LeaseLostError, GaveUpError) as exc:
                log.warning("stopped leading shard %d (%s); state dropped", self.shard, exc)
            except FencedOutError as exc:
                log.error("fenced out (%s); state dropped, standing by", exc)
            except UncommittableError as exc:
                self._set_aside(exc)
            finally:
                lease.release()
                self.metrics.lease_holder = ""
        self.metrics.role = "stopped"
        return 0

    def _set_aside(self, exc: UncommittableError) -> None:
        if len(exc.stream_ids) == 1:
            log.error("stream entry %s: %s; it will be refused", exc.stream_ids[0], exc)
            self.refuse.add(exc.stream_ids[0])
        else:
            log.warning("%s; applying them one at a time", exc)
            self.isolate.update(exc.stream_ids)

    # ------------------------------------------------------------------ leading

    def _retry[T](self, what: str, step: Callable[[], T], keep_going: Callable[[], bool]) -> T:
        return retry(what, step, keep_going, self._count_retry)

    def _count_retry(self) -> None:
        self.metrics.retries += 1

    def _go(self) -> bool:
        return not self.stopping.is_set()

    def _lead(self, lease: Lease) -> None:
        self.metrics.role = "recovering"
        commands = CommandStream(self.redis, self.shard, lease.token)

        def leading() -> bool:
            return self._go() and lease.valid()

        def fence[T](write: Callable[[], T]) -> T:  # recovery's projection writes
            return self._retry("a recovery write", partial(lease.gated, write), leading)

        def take_over() -> int:
            return store.take_over(self.dbs.main, self.shard, lease.fenced)

        self._retry("create the consumer group", commands.ensure_group, leading)
        self._retry("claim pending entries", commands.take_over_pending, leading)
        epoch = self._retry("take over the shard", take_over, leading)
        memory = DedupeMemory(self.options.dedupe_commands, self.options.dedupe_window_ms)
        recovered = self._retry(
            "recover",
            lambda: recover(self.dbs, self.shard, self.specs, fence, memory),
            leading,
        )
        state, progress = recovered.state, recovered.progress
        emitted = []
        for batch in recovered.unpublished:
            self._retry("republish a recovered batch", partial(commands.publish, batch), leading)
            # At least once: the trades of every batch that may not have gone out.
            orders = batch.public_orders.values()
            emitted.append(self.realtime.publish(batch.trades, batch.depth, orders))
            faults.at("recovery.republish")
        wait_emitted(emitted, leading)
        if recovered.redone:
            write = partial(store.write_progress, self.dbs.main, self.shard, progress,
                            lease.token, epoch, lease.fenced)  # fmt: skip
            self._retry("move the progress past the redone batches", write, leading)
            faults.at("progress.after")
        depth = {s: state.depth_snapshot(s, time.time_ns()) for s in self.specs}
        self._retry("publish depth", lambda: commands.publish_depth(depth), leading)
        # What recovery built lives as long as the books: keep it out of the collector's
        # generations so full collections stay short.
        gc.collect()
        gc.freeze()
        self.metrics.role = "leader"
        self.metrics.last_batch, self.metrics.sequence = progress.last_batch, progress.sequence
        log.info("leading shard %d as %s (epoch %d)", self.shard, lease.token, epoch)

        projector = Projector(self.dbs, self.shard, lease, epoch, self.metrics)
        self.metrics.projected_batch = progress.last_batch
        committer = Committer(
            self.dbs, commands, projector, self.realtime, self.metrics, lease, self._go
        )
        projector.start()
        committer.start()
        try:
            self._serve(StreamReader(commands), committer, state, progress, lease)
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
        reader: StreamReader,
        committer: Committer,
        state: ShardState,
        progress: ShardProgress,
        lease: Lease,
    ) -> None:
        def leading() -> bool:
            return self._go() and lease.valid()

        # Entries up to here were committed before this stint (recovery says so): pending
        # ones among them only miss their XACK.
        committed = stream_id_key(progress.last_stream_id)
        read = partial(reader.read, self.options.max_batch, self.options.block_ms)
        held: list[Entry] = []  # read, not yet applied (a batch split for isolation)
        last_lag_check = 0.0
        while self._go():
            committer.check()
            if not lease.valid():
                raise LeaseLostError("lease expired")
            entries = held or self._retry("read the stream", read, leading)
            entries, held = self._split(entries)
            done = [e.stream_id for e in entries if stream_id_key(e.stream_id) <= committed]
            if done:
                ack = partial(reader.commands.ack, done)
                self._retry("acknowledge committed entries", ack, leading)
            fresh = [e for e in entries if stream_id_key(e.stream_id) > committed]
            if fresh:
                progress = self._apply(committer, state, progress, fresh, lease.token)
            now = time.monotonic()
            if now - last_lag_check > 1.0:
                last_lag_check = now
                lag = self._retry("read the lag", reader.commands.lag, leading)
                self.metrics.stream_lag = lag

    def _split(self, entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
        """The entries to apply as one batch now, and those to hold for the next: an
        entry set aside as part of a batch too large to commit goes alone."""
        if not self.isolate:
            return entries, []
        for i, entry in enumerate(entries):
            if entry.stream_id in self.isolate:
                cut = max(i, 1)
                return entries[:cut], entries[cut:]
        return entries, []

    def _apply(
        self,
        committer: Committer,
        state: ShardState,
        progress: ShardProgress,
        entries: list[Entry],
        token: str,
    ) -> ShardProgress:
        """Apply a batch and hand it to the committer; returns the progress it will make."""
        started = time.perf_counter()
        timestamp = time.time_ns()
        result = state.apply(entries, timestamp, frozenset(self.refuse))
        batch = JournalBatch.of(self.shard, progress.last_batch + 1, result)
        journal, parts = batch.documents(token, timestamp)
        size = JournalBatch.payload_bytes(journal)
        if size > self.options.max_commit_bytes:
            raise UncommittableError(batch.stream_ids, f"journal payload of {size} bytes")
        apply_ms = (time.perf_counter() - started) * 1000
        committer.submit(Applied(batch, result, journal, parts, apply_ms))
        return ShardProgress(batch.batch, batch.last_stream_id, batch.sequence)
