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
POLL_START_S = 0.005
POLL_MAX_S = 0.05


def enqueue(client: Any, command: QueuedCommand, shards: int) -> str:
    """XADD the command to its shard's stream; returns the stream entry id."""
    stream = keys.command_stream(shard_of(command.symbol, shards))
    entry_id = redis_client.command(
        client,
        "XADD",
        stream,
        "MAXLEN",
        "~",
        STREAM_MAXLEN,
        "*",
        keys.COMMAND_FIELD,
        dump_command(command),
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def get_reply(client: Any, command_id: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.reply(command_id))
    if raw is None:
        return None
    reply: dict[str, Any] = json.loads(raw)
    return reply


def wait_reply(client: Any, command_id: str, timeout_ms: int) -> dict[str, Any] | None:
    """Poll the reply key until it appears or `timeout_ms` passes (Upstash cannot block)."""
    deadline = time.monotonic() + timeout_ms / 1000
    pause = POLL_START_S
    while True:
        reply = get_reply(client, command_id)
        if reply is not None:
            return reply
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(pause, left))
        pause = min(pause * 2, POLL_MAX_S)


def cached_order(client: Any, order_id: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.order(order_id))
    return None if raw is None else dict(json.loads(raw))


def cached_depth(client: Any, symbol: str) -> dict[str, Any] | None:
    raw = redis_client.command(client, "GET", keys.depth(symbol))
    return None if raw is None else dict(json.loads(raw))
