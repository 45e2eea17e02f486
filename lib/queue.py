"""The command queue from the producer's side: enqueue a command, poll for its reply.

Works with both Redis clients the project uses: the Upstash REST SDK (`upstash_redis.Redis`,
what the API functions run on Vercel) and redis-py (`redis.Redis`, tests, tools). Both are
driven through raw commands so the two code paths cannot drift apart.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from lib import keys, ratelimit, redis_client
from lib.commands import QueuedCommand, dump_command
from lib.config import shard_of
from lib.redis_client import Script

# A safety valve only: the matcher trims (XTRIM MINID) what it has acknowledged. This bound
# is far above any backlog a healthy matcher has, so it never drops unprocessed entries
# unless the matcher is gone for days - and then Redis memory is the bigger problem.
STREAM_MAXLEN = 5_000_000
POLL_START_S = 0.003
POLL_GROWTH = 1.25
POLL_MAX_S = 0.05
# The first look comes at this share of the reply delay this process has learnt: early
# enough to catch a reply about as soon as usual, late enough not to look in vain.
FIRST_LOOK_SHARE = 0.9
FIRST_LOOK_MAX_S = 0.2
# Later looks, when the first found nothing, start at this share of the same delay.
NEXT_LOOK_SHARE = 0.15
DELAY_SMOOTHING = 0.3  # a reply found at a later look moves the delay this far toward it
# A reply found at the first look may have been there long before: the delay drops to
# this share of that look's time at once, so that after a backlog (delays of seconds) a
# process is back to prompt looks within a few commands. Simulated with replies at
# 10 +- 2 ms: 2.1 looks a command; over the 20 commands after a one-second backlog
# 23 ms late on average, against 181 ms with the smoothing alone.
FOUND_AT_ONCE_SHRINK = 0.7


class ReplyDelay:
    """The delay after which this process usually finds the matcher's reply.

    Upstash cannot block, so the reply is polled, and every look is a request that costs
    the function, the REST front and Redis CPU. Looking at a fixed early schedule
    spends most looks in vain when the matcher takes 20 ms, and many more under load,
    when the delay grows to hundreds of ms and the looks add to the load that delays it.
    Learning the delay keeps the looks near two a command at any load. The estimate
    corrects itself: found at the first look, it shrinks; found later, it grows.
    """

    def __init__(self) -> None:
        self.expected_s = POLL_START_S

    def first_look_s(self) -> float:
        return min(max(POLL_START_S, FIRST_LOOK_SHARE * self.expected_s), FIRST_LOOK_MAX_S)

    def next_look_s(self) -> float:
        return min(max(POLL_START_S, NEXT_LOOK_SHARE * self.expected_s), POLL_MAX_S)

    def found_after(self, delay_s: float, at_first_look: bool) -> None:
        # A float store is atomic under the GIL; a lost update between threads is harmless.
        if at_first_look:
            self.expected_s = max(
                POLL_START_S, min(self.expected_s, delay_s) * FOUND_AT_ONCE_SHRINK
            )
        else:
            self.expected_s += DELAY_SMOOTHING * (delay_s - self.expected_s)


REPLY_DELAY = ReplyDelay()


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A new order as `pending` in the order cache and the account's recent-writes index,
    written in the enqueue's own script ahead of the XADD, so that no reply can precede it
    (a placeholder written after the matcher's state would hide it). NX: a retry never
    overwrites what the matcher wrote."""

    order_id: str
    account: str
    doc: str  # the order object, JSON
    ttl_s: int
    changed_us: int  # the recent-writes score


@dataclass(frozen=True, slots=True)
class Admission:
    """The API key whose rate-limit bucket pays for the command (lib/ratelimit.py)."""

    key_id: str
    rate_per_s: float
    burst: int


# A place's placeholder and XADD as one atomic step, after taking the rate-limit token
# when a fourth key (the bucket) is given: no token, nothing written. KEYS: order cache,
# recent-writes index, stream[, bucket]. ARGV: the placeholder's JSON, its TTL, the
# recent-writes score, order id, MAXLEN, the command's field and JSON[, rate, burst, now
# ("": Redis's TIME)]. Returns {1, entry id} or {0, ms until a token}.
_PLACE = Script(
    ratelimit.BUCKET_FUNCTION
    + """
if #KEYS == 4 then
  local admitted = take_token(KEYS[4], ARGV[8], ARGV[9], ARGV[10])
  if admitted[1] == 0 then
    return admitted
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[4])
return {1, redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', ARGV[6], ARGV[7])}
"""
)


def enqueue(client: Any, command: QueuedCommand, shards: int) -> str:
    """XADD the command to its shard's stream; returns the stream entry id."""
    entry_id = redis_client.command(
        client, "XADD", _stream(command, shards), "MAXLEN", "~", STREAM_MAXLEN, "*",
        keys.COMMAND_FIELD, dump_command(command),
    )  # fmt: skip
    return _text(entry_id)


def enqueue_place(
    client: Any,
    command: QueuedCommand,
    shards: int,
    placeholder: Placeholder,
    admission: Admission | None = None,
    now_ms: int | None = None,
) -> str | ratelimit.Decision:
    """`enqueue` with the placeholder ahead of the XADD, in one script; with `admission`,
    only if the key's bucket has a token. The entry id, or the refusal (nothing
    written). `now_ms`: as for lib.ratelimit.allow."""
    keys_ = [
        keys.order(placeholder.order_id),
        keys.recent_orders(placeholder.account),
        _stream(command, shards),
    ]
    args: list[str | int] = [
        placeholder.doc, placeholder.ttl_s, placeholder.changed_us, placeholder.order_id,
        STREAM_MAXLEN, keys.COMMAND_FIELD, dump_command(command),
    ]  # fmt: skip
    if admission is not None:
        keys_.append(keys.rate_key(admission.key_id))
        args += ratelimit.bucket_args(
            admission.key_id, admission.rate_per_s, admission.burst, now_ms
        )
    reply = _PLACE(client, keys_, args)
    if int(reply[0]) == 0:
        return ratelimit.decision(0, int(reply[1]))
    return _text(reply[1])


def _stream(command: QueuedCommand, shards: int) -> str:
    return keys.command_stream(shard_of(command.symbol, shards))


def _text(entry_id: Any) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def get_reply(client: Any, command_id: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.reply(command_id))
    if raw is None:
        return None
    reply: dict[str, Any] = json.loads(raw)
    return reply


def wait_reply(
    client: Any, command_id: str, timeout_ms: int, delay: ReplyDelay = REPLY_DELAY
) -> dict[str, Any] | None:
    """Poll the reply key until it appears or `timeout_ms` passes (Upstash cannot block),
    looking first when `delay` expects the reply and then at growing intervals."""
    started = time.monotonic()
    deadline = started + timeout_ms / 1000
    pause = delay.first_look_s()
    next_pause = delay.next_look_s()
    looks = 0
    while True:
        left = deadline - time.monotonic()
        time.sleep(max(0.0, min(pause, left)))
        reply = get_reply(client, command_id)
        looks += 1
        if reply is not None:
            delay.found_after(time.monotonic() - started, at_first_look=looks == 1)
            return reply
        if left <= pause:
            return None
        pause, next_pause = next_pause, min(next_pause * POLL_GROWTH, POLL_MAX_S)


def cached_order(client: Any, order_id: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.order(order_id))
    return None if raw is None else dict(json.loads(raw))


def cached_depth(client: Any, symbol: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.depth(symbol))
    return None if raw is None else dict(json.loads(raw))
