"""Redis side of the matcher: the shard's command stream, replies, caches.

The matcher reads with a consumer group (XREADGROUP ... BLOCK), so entries it has read but
not acknowledged stay pending and survive a crash; it acknowledges only after the batch is
committed to MongoDB, then trims what is acknowledged (XTRIM MINID).
"""

from __future__ import annotations

from typing import Any

import orjson
import redis

from lib import keys
from matcher.service.batch import Entry
from matcher.service.journal import JournalBatch

MAX_CLAIM_ROUNDS = 10_000


def connect(url: str) -> redis.Redis:
    # socket_timeout above the longest BLOCK we use, so a blocking read never times out early.
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=0
    )


def stream_id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class CommandStream:
    def __init__(self, client: redis.Redis, shard: int, consumer: str) -> None:
        self.client = client
        self.shard = shard
        self.stream = keys.command_stream(shard)
        self.group = keys.CONSUMER_GROUP
        self.consumer = consumer
        self._set_many_script = client.register_script(_SET_MANY)

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_all_pending(self) -> int:
        """Take over every entry pending for any consumer of the group.

        Only the lease holder calls this, so any other consumer is a dead or stale one.
        """
        claimed = 0
        start = "0-0"
        for _ in range(MAX_CLAIM_ROUNDS):
            # Without JUSTID: redis-py drops the next cursor from a JUSTID reply.
            reply: Any = self.client.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_time=0, start_id=start,
                count=1000,
            )  # fmt: skip
            start_raw, ids = reply[0], reply[1]
            claimed += len(ids)
            start = start_raw.decode() if isinstance(start_raw, bytes) else str(start_raw)
            if start == "0-0":
                break
        return claimed

    def read(self, count: int, block_ms: int, pending: bool) -> list[Entry]:
        """Up to `count` entries: this consumer's pending ones (pending=True) or new ones."""
        reply: Any = self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: "0" if pending else ">"},
            count=count,
            block=None if pending else block_ms,
        )
        entries: list[Entry] = []
        for _stream, items in reply or []:
            for raw_id, fields in items:
                stream_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                if not fields:  # pending entry already trimmed away: nothing to apply
                    entries.append(Entry(stream_id, ""))
                    continue
                value = fields.get(keys.COMMAND_FIELD.encode()) or fields.get(keys.COMMAND_FIELD)
                text = value.decode() if isinstance(value, bytes) else str(value or "")
                entries.append(Entry(stream_id, text))
        return entries

    def lag(self) -> int:
        """Entries not yet delivered to the group plus those delivered but not acknowledged."""
        try:
            groups = self.client.xinfo_groups(self.stream)
        except redis.ResponseError:
            return 0
        for group in groups:
            name = group.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                lag = group.get("lag") or 0
                return int(lag) + int(group.get("pending") or 0)
        return 0

    def publish(self, batch: JournalBatch) -> None:
        """One pipeline: order and depth caches, replies, then XACK and XTRIM MINID.

        Every entry below the batch's last id has been committed or skipped, so trimming
        up to it never drops a command that still has to be applied.
        """
        # The order cache holds the public object plus `account` (the API checks ownership).
        cached = [(keys.order(i), _json(order)) for i, order in batch.public_orders.items()]
        cached += [
            (keys.depth(symbol), _json(snapshot)) for symbol, snapshot in batch.depth.items()
        ]
        replies = [(keys.reply(command_id), _json(r)) for command_id, r in batch.replies.items()]
        pipe = self.client.pipeline(transaction=False)
        if cached or replies:
            # One script call instead of a SET per key: half the time of a plain pipeline,
            # which spends it packing and parsing thousands of small commands.
            self._set_many_script(
                keys=[k for k, _ in cached] + [k for k, _ in replies],
                args=[len(cached), keys.REPLY_TTL_SECONDS,
                      *(v for _, v in cached), *(v for _, v in replies)],
                client=pipe,
            )  # fmt: skip
        pipe.xack(self.stream, self.group, *batch.stream_ids)
        pipe.xtrim(self.stream, minid=batch.last_stream_id, approximate=False)
        pipe.execute()

    def publish_depth(self, depth: dict[str, dict[str, Any]]) -> None:
        """The depth cache of every book, as recovery rebuilt them."""
        if depth:  # a shard may own no symbol
            self.client.mset({keys.depth(sym): _json(snap) for sym, snap in depth.items()})

    def ack(self, stream_ids: list[str]) -> None:
        self.client.xack(self.stream, self.group, *stream_ids)

    def forget_other_consumers(self) -> None:
        """Drop consumers with nothing pending (dead matchers), after claim_all_pending."""
        for consumer in self.client.xinfo_consumers(self.stream, self.group):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name != self.consumer and not consumer.get("pending"):
                self.client.xgroup_delconsumer(self.stream, self.group, name)


# SET every key to its value; the first ARGV[1] keys for good, the rest with EX ARGV[2].
_SET_MANY = """
local permanent = tonumber(ARGV[1])
for i = 1, #KEYS do
  if i <= permanent then
    redis.call('SET', KEYS[i], ARGV[i + 2])
  else
    redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ARGV[2])
  end
end
return #KEYS
"""


def _json(value: object) -> bytes:
    return orjson.dumps(value)
