"""The hook the real-time layer (matcher/realtime, Socket.IO) plugs into.

The committer calls `publish` once per committed batch - after the journal insert and the
Redis publish, in sequence order - and recovery once per batch it republishes. It must not
block: an implementation hands the events to its own event loop and returns a future that
is done once they have gone out. The projector waits for that future before it moves the
shard's progress past the batch: recovery republishes (and so re-emits) every batch the
progress does not cover, so a crash can never lose a committed trade's event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

log = logging.getLogger("matcher")
EMIT_WAIT_S = 5.0  # a real-time layer this slow is broken: progress moves on without it


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


def wait_emitted(futures: Iterable[Future[None] | None]) -> None:
    """Until the events of these batches went out (or the wait is hopeless)."""
    for future in futures:
        if future is None:
            continue
        try:
            future.result(timeout=EMIT_WAIT_S)
        except FutureTimeout:
            log.warning("real-time events not out after %.0f s; moving on", EMIT_WAIT_S)
        except Exception as exc:  # the hub logs its own failures; never stop the shard
            log.warning("real-time events failed: %s", exc)
