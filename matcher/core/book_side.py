"""One side of a book: price levels with O(log levels) access to the best one.

A binary heap keyed so that the best price is the smallest key (asks: price,
bids: -price). Emptied levels are left in place and dropped lazily when they reach
the top, which keeps a cancel O(1); a rebuild bounds the garbage they leave.
"""

from collections.abc import Iterator
from heapq import heapify, heappop, heappush

from matcher.core.order import Level


class BookSide:
    __slots__ = ("_heap", "_levels", "_sign", "live_levels")

    def __init__(self, best_is_highest: bool) -> None:
        self._sign = -1 if best_is_highest else 1
        self._heap: list[int] = []
        self._levels: dict[int, Level] = {}  # heap key -> level, empty ones included
        self.live_levels = 0

    def best(self) -> Level | None:
        heap, levels = self._heap, self._levels
        while heap:
            level = levels[heap[0]]
            if level.count:
                return level
            del levels[heappop(heap)]
        return None

    def level_for(self, price: int) -> Level:
        """The level at `price`, created if needed."""
        key = price * self._sign
        level = self._levels.get(key)
        if level is None:
            level = self._levels[key] = Level(price)
            heappush(self._heap, key)
        return level

    def get(self, price: int) -> Level | None:
        level = self._levels.get(price * self._sign)
        return level if level is not None and level.count else None

    def level_emptied(self) -> None:
        self.live_levels -= 1
        if len(self._levels) > 4 * self.live_levels + 1024:
            self._compact()

    def _compact(self) -> None:
        self._levels = {k: v for k, v in self._levels.items() if v.count}
        self._heap = list(self._levels)
        heapify(self._heap)

    def __iter__(self) -> Iterator[Level]:
        """Non-empty levels, best first, lazily: O(log k) for each of the first k.

        Walks the heap as the tree it is, with a frontier heap of candidate nodes,
        so depth and fill-or-kill checks never sort the whole side.
        """
        heap, levels = self._heap, self._levels
        size = len(heap)
        if not size:
            return
        frontier = [(heap[0], 0)]
        while frontier:
            key, i = heappop(frontier)
            level = levels[key]
            if level.count:
                yield level
            child = 2 * i + 1
            if child < size:
                heappush(frontier, (heap[child], child))
                if child + 1 < size:
                    heappush(frontier, (heap[child + 1], child + 1))
