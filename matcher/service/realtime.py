"""The hook the real-time layer (Socket.IO, a later issue) plugs into.

The loop calls `publish` once per committed batch - after the journal and projections are
durable, in sequence order - from the loop thread. An implementation must not block: hand
the data to its own event loop (e.g. `loop.call_soon_threadsafe`) and return.
"""

from __future__ import annotations

from typing import Any, Protocol


class RealtimeHook(Protocol):
    def publish(self, trades: list[dict[str, Any]], depth: dict[str, dict[str, Any]]) -> None:
        """`trades`: trade objects in sequence order; `depth`: symbol -> latest snapshot."""


class NoRealtime:
    def publish(self, trades: list[dict[str, Any]], depth: dict[str, dict[str, Any]]) -> None:
        return None
