"""One writer per shard: a renewable lease in Redis (`sbs:lease:{shard}`).

acquire: SET key token NX PX lease_ms. renew (every renew_ms, in a thread of its own so a
slow MongoDB commit never delays it): a Lua compare-and-renew that extends the key only if
it still holds our token. The holder may write only while `valid()`: until the last
successful renewal's start + lease_ms - margin. A renewal that finds another token, or no
key at all, means the lease is lost for good: once it has expired somebody else may have
led (and left) meanwhile, so the holder must recover again rather than carry on. A
renewal that cannot reach Redis just lets `valid()` run out.

The token is new for every leadership stint (see `stint_token`): the Redis scripts, the
journal's writer field and the progress document's epoch all fence by it, so a process
that lost the lease and won it back can never mistake its old stint's late writes for
its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pymongo
import redis

from lib import keys
from matcher.service.retry import TRANSIENT

log = logging.getLogger("matcher")

# 1: renewed; 0: the key holds another token or has expired - lost either way.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLostError(Exception):
    """This stint may no longer write for the shard; drop the state and stand by."""


def stint_token() -> str:
    """A fresh writer identity for one leadership stint: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    def __init__(
        self,
        client: redis.Redis,
        shard: int,
        token: str,
        lease_ms: int = 3000,
        renew_ms: int = 1000,
    ) -> None:
        self.client = client
        self.key = keys.lease(shard)
        self.token = token
        self.lease_ms = lease_ms
        self.renew_ms = renew_ms
        self.margin_ms = min(500, lease_ms // 4)  # clock drift and in-flight requests
        self._valid_until = 0.0
        self.lost = False
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renew = client.register_script(_RENEW)

    def valid(self) -> bool:
        return self.held and not self.lost and time.monotonic() < self._valid_until

    def remaining_ms(self) -> int:
        """How long writes stay allowed without another successful renewal."""
        if not self.held or self.lost:
            return 0
        return max(0, int((self._valid_until - time.monotonic()) * 1000))

    @contextlib.contextmanager
    def writes_allowed(self) -> Iterator[None]:
        """A MongoDB write in here is never sent once the lease has run out: pymongo checks
        this deadline (client-side operation timeout) just before it sends the command,
        so a writer paused past its lease finds its next write refused, not applied after
        its successor's. The MongoDB side of the fence (store.Fence); the Redis side is in
        the scripts. Used around each single driver call: the lease is renewed meanwhile."""
        left = self.remaining_ms() / 1000
        if left <= 0:
            raise LeaseLostError("the lease ran out before a write")
        with pymongo.timeout(left):
            yield

    def fenced[T](self, write: Callable[[], T]) -> T:
        """One MongoDB write, sent only while the lease holds (`writes_allowed`)."""
        with self.writes_allowed():
            return write()

    def gated[T](self, write: Callable[[], T]) -> T:
        """One MongoDB write, started only while the lease holds, then given the time it
        takes. For projection writes and journal pruning, which can outlast what the lease
        has left (on FerretDB a prune scans the whole journal): a deadline would cut them
        short (FerretDB honours it); the commit point and the progress document stay
        `fenced`."""
        if self.remaining_ms() <= 0:
            raise LeaseLostError("the lease ran out before a write")
        return write()

    def holder(self) -> str | None:
        try:
            value = self.client.get(self.key)
        except TRANSIENT:
            return None
        return value.decode() if isinstance(value, bytes) else value

    def try_acquire(self) -> bool:
        started = time.monotonic()
        if self.client.set(self.key, self.token, nx=True, px=self.lease_ms):
            self._valid_until = started + (self.lease_ms - self.margin_ms) / 1000
            self.held = True
            return True
        return False

    def acquire(self, stopping: threading.Event, poll_s: float = 0.25) -> bool:
        """Wait as a hot standby until the lease is ours; False if asked to stop first."""
        announced = False
        while not stopping.is_set():
            try:
                if self.try_acquire():
                    self._start_renewer()
                    return True
            except TRANSIENT as exc:
                log.warning("lease: Redis unreachable (%s); still waiting", exc)
            if not announced:
                log.info("standby: shard lease held by %s; waiting", self.holder())
                announced = True
            stopping.wait(poll_s)
        return False

    def renew_once(self) -> None:
        started = time.monotonic()
        try:
            outcome = int(self._renew(keys=[self.key], args=[self.token, self.lease_ms]))
        except TRANSIENT as exc:
            log.warning("lease renewal failed (%s); writes pause when it runs out", exc)
            return
        if outcome == 0:
            self.lost = True
            log.error("lease lost: %s expired or is held by another matcher", self.key)
            return
        self._valid_until = started + (self.lease_ms - self.margin_ms) / 1000

    def _start_renewer(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.renew_ms / 1000) and not self.lost:
                self.renew_once()

        self._thread = threading.Thread(target=loop, name="lease-renewer", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.held and not self.lost:
            with contextlib.suppress(*TRANSIENT):  # if unreachable, it expires on its own
                self.client.eval(_RELEASE, 1, self.key, self.token)
        self.held = False
