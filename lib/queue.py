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


def wait_reply(client: Any, command_id: str, timeout_ms: int) -> dict[str, Any] | None:
    """Poll the reply key until it appears or `timeout_ms` passes (Upstash cannot block).

    The first look comes after POLL_START_S, not at once: straight after the enqueue the
    matcher cannot have answered, and every look is a request. The pause then grows
    slowly, so that a reply is picked up within a few ms of when a healthy matcher writes
    it (5-10 ms), and more slowly once the matcher is evidently busy.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    pause = POLL_START_S
    while True:
        left = deadline - time.monotonic()
        time.sleep(max(0.0, min(pause, left)))
        reply = get_reply(client, command_id)
        if reply is not None or left <= pause:
            return reply
        pause = min(pause * POLL_GROWTH, POLL_MAX_S)


def cached_order(client: Any, order_id: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.order(order_id))
    return None if raw is None else dict(json.loads(raw))


def cached_depth(client: Any, symbol: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.depth(symbol))
    return None if raw is None else dict(json.loads(raw))
