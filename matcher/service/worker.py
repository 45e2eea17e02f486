"""A thread that works through a queue in order, beside the matching loop.

The committer and the projector are both one: the loop submits (and waits while the queue
is full: back-pressure), `close()` finishes the queue for a clean stop, `abandon()` drops
it when the in-memory books are being thrown away, and a failure in the thread is raised
again in the loop's thread by the next `submit()` or `check()`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

log = logging.getLogger("matcher")


class OrderedWorker[T]:
    def __init__(self, name: str, capacity: int) -> None:
        self.capacity = capacity  # in units of `_size`
        self.queued = 0  # units waiting, the item in hand included
        self.failed: BaseException | None = None
        self._queue: deque[T] = deque()
        self._changed = threading.Condition()
        self._closing = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # ------------------------------------------------------------ for subclasses

    def _size(self, item: T) -> int:
        return 1

    def _take(self) -> list[T]:
        """The next items to handle, oldest first; called holding `_changed` with the
        queue not empty (it may wait on `_changed` for more)."""
        return [self._queue[0]]

    def _handle(self, items: list[T]) -> None:
        raise NotImplementedError

    def _on_start(self) -> None:
        return None

    # ------------------------------------------------------------------ the loop's side

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: T) -> None:
        with self._changed:
            while self.queued >= self.capacity and self.failed is None:
                self._changed.wait(0.1)
            self.check()
            self._queue.append(item)
            self.queued += self._size(item)
            self._changed.notify_all()

    def check(self) -> None:
        """Raise in the caller's thread what stopped this one."""
        if self.failed is not None:
            raise self.failed

    def close(self, timeout: float | None = None) -> bool:
        """Handle what is queued, then stop; False if that did not finish in `timeout`."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)
        self.check()
        return not self._thread.is_alive() and not self._queue

    def abandon(self) -> None:
        """Stop without handling what is queued."""
        with self._changed:
            self._abandoned = self._closing = True
            self._queue.clear()
            self.queued = 0
            self._changed.notify_all()
        self._thread.join(30)

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    # ---------------------------------------------------------------- the thread

    def _run(self) -> None:
        self._on_start()
        try:
            while True:
                with self._changed:
                    while not self._queue and not self._closing:
                        self._changed.wait()
                    if not self._queue:
                        return
                    items = self._take()
                self._handle(items)
                with self._changed:
                    for _ in items:
                        if self._queue:  # abandon() may have emptied it meanwhile
                            self.queued -= self._size(self._queue.popleft())
                    self._changed.notify_all()
        except BaseException as exc:
            log.error("%s stopped: %s", self._thread.name, exc)
            with self._changed:
                self.failed = exc
                self._changed.notify_all()
