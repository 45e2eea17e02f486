"""Bounded recent-history memory: which command ids and order ids this shard has seen."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

DEFAULT_CAPACITY = 200_000


class RecentResults:
    """command_id -> the first reply, oldest evicted first (a retry comes within minutes)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __contains__(self, command_id: str) -> bool:
        return command_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, command_id: str) -> dict[str, Any] | None:
        return self._items.get(command_id)

    def add(self, command_id: str, reply: dict[str, Any]) -> None:
        items = self._items
        if command_id in items:
            return  # the first result is the one every retry gets
        items[command_id] = reply
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
