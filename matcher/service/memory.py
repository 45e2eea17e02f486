"""The dedupe memory: which commands (and the order ids they placed) a shard has applied.

The rule, the same for a matcher that has run for days and one that has just recovered
(docs/MATCHER.md, "Exactly once"):

- `newest` is the latest `received_at` seen (never past the batch's own clock, so one bad
  clock cannot push it into the future);
- the memory keeps the (at most `capacity`) most recently *received* commands whose
  `received_at` lies within `window_ms` of `newest`; when full it lets go of the one
  received first, whatever the order they arrived in;
- `floor` is the highest `received_at` the memory has let go of (by count or by age);
- a command whose `received_at` is at or below the floor is refused as stale: it may be
  a late retry of a forgotten command, so applying it could apply something twice;
- any other command is a duplicate exactly when its id is remembered.

So the memory always holds exactly the applied commands received above the floor. `floor`
and `newest` go into every journal document and the remembered commands into its payload,
so recovery rebuilds the very same memory from the batches holding a command above the
floor (see `restore`), and it decides every later command as the uninterrupted one would.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import orjson

from lib import keys

DEFAULT_CAPACITY = 200_000
DEFAULT_WINDOW_MS = keys.DEDUPE_WINDOW_MS  # the reply keys live as long


@dataclass(frozen=True, slots=True)
class Remembered:
    """One applied command as the journal keeps it for the dedupe memory."""

    command_id: str
    received_at: int
    order_id: str | None  # the order a place created (its id is then taken)


class DedupeMemory:
    """command_id -> the first reply; the one received first is let go of first (a heap).

    Replies are kept as JSON bytes, which the garbage collector does not track: 200,000
    reply dicts would make every full collection walk millions of objects, a pause of tens
    of milliseconds in the middle of a batch.
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, window_ms: int = DEFAULT_WINDOW_MS
    ) -> None:
        self.capacity = capacity
        self.window_ms = window_ms
        self.floor = -1
        self.newest = 0
        self._items: dict[str, tuple[int, str | None, bytes]] = {}
        self._by_received: list[tuple[int, str]] = []  # heap of (received_at, command_id)
        self._orders: dict[str, str] = {}  # order id -> the command that placed it

    def __len__(self) -> int:
        return len(self._items)

    def is_stale(self, received_at: int) -> bool:
        return received_at <= self.floor

    def knows_order(self, order_id: str) -> bool:
        return order_id in self._orders

    def encoded_reply(self, command_id: str) -> bytes | None:
        """The first reply as JSON, exactly as remembered (what the reply key gets)."""
        item = self._items.get(command_id)
        return None if item is None else item[2]

    def remember(
        self, entry: Remembered, reply: dict[str, Any], now_ms: int, evict: bool = True
    ) -> bytes:
        """Remember the command's first reply; returns that reply as JSON."""
        known = self._items.get(entry.command_id)
        if known is not None:
            return known[2]  # the first result is the one every retry gets
        self.newest = max(self.newest, min(entry.received_at, now_ms))
        encoded = orjson.dumps(reply)
        self._items[entry.command_id] = (entry.received_at, entry.order_id, encoded)
        heapq.heappush(self._by_received, (entry.received_at, entry.command_id))
        if entry.order_id is not None:
            self._orders[entry.order_id] = entry.command_id
        if evict:
            self.evict()
        return encoded

    def evict(self) -> None:
        items, heap = self._items, self._by_received
        self.floor = max(self.floor, self.newest - self.window_ms)
        while heap and (len(items) > self.capacity or heap[0][0] <= self.floor):
            received_at, command_id = heapq.heappop(heap)
            self.floor = max(self.floor, received_at)
            order_id = items.pop(command_id)[1]
            if order_id is not None and self._orders.get(order_id) == command_id:
                del self._orders[order_id]

    def restore(
        self, floor: int, newest: int, remembered: list[tuple[Remembered, dict[str, Any]]]
    ) -> None:
        """Rebuild from the journal: the last batch's floor and newest, and the commands of
        every journalled batch that may still hold one above the floor, oldest first."""
        self.floor, self.newest = floor, newest
        for entry, reply in remembered:
            if entry.received_at > floor:
                self.remember(entry, reply, newest, evict=False)
        self.evict()
