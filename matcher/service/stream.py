"""Redis side of the matcher: the shard's command stream, replies, caches.

The matcher reads with a consumer group, so entries it has read but not acknowledged stay
pending and survive a crash; it acknowledges only after the batch is committed to MongoDB,
then trims what is acknowledged (XTRIM MINID).

Every call that changes the group or the caches is a Lua script that first checks that the
shard's lease still holds this stint's token (`LeaseLostError` otherwise). Redis runs a
script atomically, so a matcher paused past its lease (GC, SIGSTOP, a slow link) can
neither read entries after its successor claimed the pending ones, nor acknowledge, nor
overwrite the successor's newer caches with its older ones. Blocking reads are not
allowed in scripts, so an idle reader waits with a plain XREAD BLOCK, which consumes
nothing, and then reads through the script.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis

from lib import keys
from lib.orders import public_trade
from matcher.service.batch import Entry
from matcher.service.journal import JournalBatch
from matcher.service.lease import LeaseLostError
from matcher.service.retry import TRANSIENT

log = logging.getLogger("matcher")
NOT_LEADER = "NOTLEADER"


def connect(url: str) -> redis.Redis:
    # socket_timeout above the longest BLOCK we use, so a blocking read never times out early.
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=0
    )


def stream_id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CommandStream:
    """The shard's stream as one leadership stint sees it: `consumer` is the stint token."""

    def __init__(self, client: redis.Redis, shard: int, consumer: str) -> None:
        self.client = client
        self.shard = shard
        self.stream = keys.command_stream(shard)
        self.lease_key = keys.lease(shard)
        self.group = keys.CONSUMER_GROUP
        self.consumer = consumer
        self._read = client.register_script(_READ)
        self._claim = client.register_script(_CLAIM)
        self._publish = client.register_script(_PUBLISH)

    def _fenced(self, script: Any, keys_: list[str], args: list[Any], client: Any = None) -> Any:
        try:
            return script(keys=[self.stream, self.lease_key, *keys_],
                          args=[self.consumer, self.group, *args], client=client)  # fmt: skip
        except redis.ResponseError as exc:
            if NOT_LEADER in str(exc):
                raise LeaseLostError(f"lease of shard {self.shard} is no longer ours") from None
            raise

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def take_over_pending(self) -> int:
        """Claim every entry pending for any consumer of the group, then drop the others
        (dead or stale stints); one script, so no other consumer reads in between."""
        return int(self._fenced(self._claim, [], []))

    def read_pending(self, after: str, count: int) -> list[Entry]:
        """This consumer's pending entries with ids above `after`, in id order."""
        reply = self._fenced(self._read, [], [count, after])
        return _entries(reply[0])

    def read_new(self, count: int) -> tuple[list[Entry], str]:
        """Entries never delivered to the group, and the stream's newest id (to wait on)."""
        reply = self._fenced(self._read, [], [count, ">"])
        return _entries(reply[0]), _text(reply[1])

    def wait_for_new(self, newest: str, block_ms: int) -> None:
        """Block until an entry newer than `newest` exists (or `block_ms` passes)."""
        self.client.xread({self.stream: newest}, count=1, block=block_ms)

    def lag(self) -> int:
        """Entries not yet delivered to the group plus those delivered but not acknowledged."""
        try:
            groups = self.client.xinfo_groups(self.stream)
        except redis.ResponseError:
            return 0
        for group in groups:
            if _text(group.get("name")) == self.group:
                lag = group.get("lag") or 0
                return int(lag) + int(group.get("pending") or 0)
        return 0

    def publish(self, batch: JournalBatch) -> None:
        """One script call: order and depth caches, replies, the recent-writes index, then
        XACK and XTRIM MINID.

        Every entry below the batch's last id has been committed (entries are applied in id
        order), so trimming up to it never drops a command that still has to be applied.
        """
        self._fenced(self._publish, *publish_arguments(batch))

    def publish_depth(self, depth: dict[str, dict[str, Any]]) -> None:
        """The depth cache of every book, as recovery rebuilt them."""
        cached = [(keys.depth(s), _json(snap)) for s, snap in depth.items()]
        self._fenced(self._publish, *script_arguments(cached, [], [], ""))

    def ack(self, stream_ids: list[str]) -> None:
        self._fenced(self._publish, *script_arguments([], [], stream_ids, ""))


def publish_arguments(batch: JournalBatch) -> tuple[list[str], list[str | int | bytes]]:
    """The publish script's keys and arguments for a committed batch."""
    # The order cache holds the public object plus `account` (the API checks ownership).
    cached = [(keys.order(i), _json(order)) for i, order in batch.public_orders.items()]
    cached += [(keys.depth(symbol), _json(snapshot)) for symbol, snapshot in batch.depth.items()]
    encoded = batch.encoded_replies
    replies = [
        (keys.reply(command_id), encoded.get(command_id) or _json(reply))
        for command_id, reply in batch.replies.items()
    ]
    return script_arguments(
        cached, replies, batch.stream_ids, batch.last_stream_id, recent_writes(batch)
    )


def script_arguments(
    cached: list[tuple[str, bytes]],
    replies: list[tuple[str, bytes]],
    acks: list[str],
    trim_below: str,
    recent: dict[str, list[tuple[int, bytes]]] | None = None,
) -> tuple[list[str], list[str | int | bytes]]:
    # One script call instead of a SET per key: half the time of a plain pipeline,
    # which spends it packing and parsing thousands of small commands.
    recent = recent or {}
    entries: list[int | bytes] = []
    for members in recent.values():
        entries.append(len(members))
        for score, member in members:
            entries += [score, member]
    return (
        [k for k, _ in cached] + [k for k, _ in replies] + list(recent),
        [len(cached), keys.REPLY_TTL_SECONDS, trim_below, len(acks),
         len(cached) + len(replies), keys.RECENT_KEEP, *acks,
         *(v for _, v in cached), *(v for _, v in replies), *entries],
    )  # fmt: skip


class StreamReader:
    """Hands out the stream's entries strictly in id order, each once per stint.

    First the entries pending for this consumer (claimed from earlier stints at the start),
    read from a cursor so that an entry in flight is never handed out (or acknowledged)
    twice; then new ones. A read whose reply is lost may still have delivered entries
    (they are then pending for us): the next read goes back to the pending list from the
    cursor, so they are read before anything newer.
    """

    def __init__(self, commands: CommandStream) -> None:
        self.commands = commands
        self.pending = True
        self.cursor = "0-0"  # the last entry handed out
        self._caught_up_at: str | None = None  # the stream's newest id when we caught up

    def read(self, count: int, block_ms: int) -> list[Entry]:
        if self._caught_up_at is not None:
            newest, self._caught_up_at = self._caught_up_at, None
            self.commands.wait_for_new(newest, block_ms)
        if self.pending:
            entries = self.commands.read_pending(self.cursor, count)
            if not entries:
                self.pending = False
        else:
            try:
                entries, newest = self.commands.read_new(count)
            except TRANSIENT:
                self.pending = True
                raise
            if not entries:
                self._caught_up_at = newest
            elif len(entries) < count:
                # That was all there was: next time wait for an entry after it instead of
                # asking again first, one round trip a batch fewer while commands trickle.
                self._caught_up_at = entries[-1].stream_id
        if entries:
            self.cursor = entries[-1].stream_id
        return entries


def _entries(reply: Any) -> list[Entry]:
    entries: list[Entry] = []
    for _stream, items in reply or []:
        for raw_id, fields in items or []:
            stream_id = _text(raw_id)
            if not fields:  # an entry deleted while pending: nothing left to apply
                log.error("stream entry %s was deleted before it was applied", stream_id)
                entries.append(Entry(stream_id, ""))
                continue
            text = ""
            for name, value in zip(fields[::2], fields[1::2], strict=True):
                if _text(name) == keys.COMMAND_FIELD:
                    text = _text(value)
            entries.append(Entry(stream_id, text))
    return entries


# KEYS: stream, lease. ARGV: token, group, count, id ('>' for new entries, else a cursor
# into this consumer's pending list). Returns {entries, newest id of the stream}.
_READ = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('NOTLEADER') end
local got = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[1], 'COUNT', ARGV[3],
                       'STREAMS', KEYS[1], ARGV[4])
local newest = '0-0'
if not got and ARGV[4] == '>' then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #last > 0 then newest = last[1][1] end
end
return {got or {}, newest}
"""

# KEYS: stream, lease. ARGV: token, group. Claims every pending entry, drops the other
# consumers (all now have nothing pending). Returns how many entries were claimed.
_CLAIM = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('NOTLEADER') end
local start, claimed = '0-0', 0
repeat
  local got = redis.call('XAUTOCLAIM', KEYS[1], ARGV[2], ARGV[1], 0, start, 'COUNT', 1000,
                         'JUSTID')
  start = got[1]
  claimed = claimed + #got[2]
until start == '0-0'
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[2])) do
  local name = consumer[2]
  if name ~= ARGV[1] then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[2], name) end
end
return claimed
"""

# KEYS: stream, lease, the ARGV[7] keys to SET (the first ARGV[3] for good, the rest with
# EX ARGV[4]), then the sorted sets of the recent-writes index.
# ARGV: token, group, #permanent, ttl, trim-below id ('' for none), #acks, #sets, how many
# members each sorted set keeps, the ids to XACK, one value per SET key, then per sorted
# set: a count and that many score/member pairs.
_PUBLISH = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('NOTLEADER') end
local permanent, acks, sets = tonumber(ARGV[3]), tonumber(ARGV[6]), tonumber(ARGV[7])
local values = 8 + acks
for i = 1, sets do
  local value = ARGV[values + i]
  if i <= permanent then
    redis.call('SET', KEYS[i + 2], value)
  else
    redis.call('SET', KEYS[i + 2], value, 'EX', ARGV[4])
  end
end
local at = values + sets + 1
for k = 3 + sets, #KEYS do
  local count = tonumber(ARGV[at])
  for j = at + 1, at + 2 * count, 2 do
    redis.call('ZADD', KEYS[k], ARGV[j], ARGV[j + 1])
  end
  at = at + 2 * count + 1
  redis.call('ZREMRANGEBYRANK', KEYS[k], 0, -1 - tonumber(ARGV[8]))
end
for first = 9, 8 + acks, 1000 do  -- unpack() is bounded by Lua's C stack
  redis.call('XACK', KEYS[1], ARGV[2], unpack(ARGV, first, math.min(first + 999, 8 + acks)))
end
if ARGV[5] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', ARGV[5]) end
return sets
"""


def recent_writes(batch: JournalBatch) -> dict[str, list[tuple[int, bytes]]]:
    """The batch's entries of the recent-writes index (lib/keys.py): the id of each order the
    batch changed in its account's set (score: the change's time in µs) and each trade in its
    shard's set (score: sequence). The API merges what the projector has not yet written
    (it compares with the progress document) into its lists, which MongoDB serves a moment
    later: an account always reads its own writes. Sorted sets, so that republishing a batch
    adds nothing twice."""
    recent: dict[str, list[tuple[int, bytes]]] = {}
    for doc in batch.orders:
        key = keys.recent_orders(doc["account"])
        score = int(doc["updated_ns"]) // 1000
        recent.setdefault(key, []).append((score, doc["_id"].encode()))
    if batch.trades:
        recent[keys.recent_trades(batch.shard)] = [
            (int(t["sequence"]), _json(public_trade(t))) for t in batch.trades
        ]
    return recent


def _json(value: object) -> bytes:
    return orjson.dumps(value)
