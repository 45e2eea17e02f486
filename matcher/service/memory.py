"""Bounded recent-history memory: which command ids and order ids this shard has seen."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

DEFAULT_CAPACITY = 200_000


class RecentResults:
    """command_id -> the first reply, oldest evicted first (a retry comes within minutes).

    Replies are kept as JSON bytes, which the garbage collector does not track: 200,000
    reply dicts would make every full collection walk millions of objects, a pause of tens
    of milliseconds in the middle of a batch.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def __contains__(self, command_id: str) -> bool:
        return command_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, command_id: str) -> dict[str, Any] | None:
        raw = self._items.get(command_id)
        if raw is None:
            return None
        reply: dict[str, Any] = orjson.loads(raw)
        return reply

    def add(self, command_id: str, reply: dict[str, Any]) -> None:
        items = self._items
        if command_id in items:
            return  # the first result is the one every retry gets
        items[command_id] = orjson.dumps(reply)
        while len(items) > self.capacity:
            items.popitem(last=False)


class RecentIds:
    """A bounded set of order ids that exist (or existed): a second place with one is refused."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, order_id: str) -> bool:
        return order_id in self._items

    def add(self, order_id: str) -> None:
        self._items[order_id] = None
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
