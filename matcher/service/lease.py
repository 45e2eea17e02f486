"""One writer per shard: a renewable lease in Redis (`sbs:lease:{shard}`).

acquire: SET key token NX PX lease_ms. renew (every renew_ms, in a thread of its own so a
slow MongoDB commit never delays it): a Lua compare-and-renew that extends the key only if
it still holds our token. The holder may write only while `valid()`: until the last
successful renewal's start + lease_ms - margin. A renewal that finds another token means
the lease is lost for good: stop writing at once. A renewal that cannot reach Redis just
lets `valid()` run out; the journal's unique batch ids fence out anything that slips by.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis

from lib import keys
from matcher.service.retry import TRANSIENT

log = logging.getLogger("matcher")

# 1: renewed; 2: the key had expired (e.g. Redis restarted) and we set it again; 0: other owner.
_RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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
            log.error("lease lost: another matcher holds %s", self.key)
            return
        if outcome == 2:
            log.warning("lease had expired and was taken again; the journal fence decides")
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
