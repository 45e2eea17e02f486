"""The hook the real-time layer (matcher/realtime, Socket.IO) plugs into.

The committer calls `publish` once per committed batch - after the journal insert and the
Redis publish, in sequence order - and recovery once per batch it republishes. It must not
block: an implementation hands the events to its own event loop and returns a future that
is done once they have gone out (or fails). The projector waits for that future, without a
deadline, before it moves the shard's progress past the batch: recovery republishes (and
so re-emits) every batch the progress does not cover, so neither a crash nor a slow or
failing real-time layer can lose a committed trade's event. The wait also bounds what the
hub holds: the projector's backlog is bounded, and the matching loop waits when it is full.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from matcher.service.retry import GaveUpError

log = logging.getLogger("matcher")
POLL_S = 0.25  # how often a wait looks at whether this process still leads the shard
WARN_EVERY_S = 5.0


class RealtimeHook(Protocol):
    def publish(
        self,
        trades: list[dict[str, Any]],
        depth: dict[str, dict[str, Any]],
        orders: Iterable[dict[str, Any]],
    ) -> Future[None] | None:
        """`trades`: trade documents in sequence order; `depth`: symbol -> latest snapshot;
        `orders`: each changed order's public object with `account`."""


class NoRealtime:
    def publish(
        self,
        trades: list[dict[str, Any]],
        depth: dict[str, dict[str, Any]],
        orders: Iterable[dict[str, Any]],
    ) -> Future[None] | None:
        return None


def wait_emitted(futures: Iterable[Future[None] | None], keep_going: Callable[[], bool]) -> None:
    """Until the events of these batches went out, however long that takes: the caller
    then moves the progress past them, after which nothing would send them again. A hub
    that failed, or a lease lost meanwhile, is GaveUpError: the shard is led again and
    recovery sends these batches' events once more."""
    started = warned = time.monotonic()
    for future in futures:
        while future is not None:
            try:
                future.result(timeout=POLL_S)
                break
            except FutureTimeout:
                if not keep_going():
                    raise GaveUpError("real-time events not sent before stepping down") from None
                if time.monotonic() - warned >= WARN_EVERY_S:
                    warned = time.monotonic()
                    log.warning("real-time events waited for %.0f s", warned - started)
            except Exception as exc:
                raise GaveUpError(f"real-time events not sent: {exc}") from exc
