"""The command queue from the producer's side: enqueue a command, poll for its reply.

Works with both Redis clients the project uses: the Upstash REST SDK (`upstash_redis.Redis`,
what the API functions run on Vercel) and redis-py (`redis.Redis`, tests, tools). Both are
driven through raw commands so the two code paths cannot drift apart.
"""

from __future__ import annotations

import json
import time
from typing import Any

from lib import keys, redis_client
from lib.commands import QueuedCommand, dump_command
from lib.config import shard_of

# A safety valve only: the matcher trims (XTRIM MINID) what it has acknowledged. This bound
# is far above any backlog a healthy matcher has, so it never drops unprocessed entries
# unless the matcher is gone for days - and then Redis memory is the bigger problem.
STREAM_MAXLEN = 5_000_000
POLL_START_S = 0.003
POLL_GROWTH = 1.25
POLL_MAX_S = 0.05
# The first look comes at this share of the reply delay this process last saw (smoothed):
# early enough to catch a reply about as soon as usual, late enough not to look in vain.
FIRST_LOOK_SHARE = 0.8
# Later looks, when the first found nothing, start at this share of the same delay.
NEXT_LOOK_SHARE = 0.15
DELAY_SMOOTHING = 0.2


class ReplyDelay:
    """The delay after which this process usually finds the matcher's reply, smoothed.

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
        return min(max(POLL_START_S, FIRST_LOOK_SHARE * self.expected_s), POLL_MAX_S * 4)

    def next_look_s(self) -> float:
        return min(max(POLL_START_S, NEXT_LOOK_SHARE * self.expected_s), POLL_MAX_S)

    def found_after(self, delay_s: float) -> None:
        # A float store is atomic under the GIL; a lost update between threads is harmless.
        self.expected_s += DELAY_SMOOTHING * (delay_s - self.expected_s)


REPLY_DELAY = ReplyDelay()


def enqueue(
    client: Any,
    command: QueuedCommand,
    shards: int,
    before: list[tuple[str | int, ...]] | None = None,
) -> str:
    """XADD the command to its shard's stream; returns the stream entry id. `before`:
    commands sent ahead of the XADD in the same round trip (a pipeline, in order)."""
    stream = keys.command_stream(shard_of(command.symbol, shards))
    xadd: tuple[str | int, ...] = (
        "XADD", stream, "MAXLEN", "~", STREAM_MAXLEN, "*", keys.COMMAND_FIELD, dump_command(command)
    )  # fmt: skip
    if before:
        entry_id = redis_client.pipeline(client, [*before, xadd])[-1]
    else:
        entry_id = redis_client.command(client, *xadd)
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
    while True:
        left = deadline - time.monotonic()
        time.sleep(max(0.0, min(pause, left)))
        reply = get_reply(client, command_id)
        if reply is not None:
            delay.found_after(time.monotonic() - started)
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
