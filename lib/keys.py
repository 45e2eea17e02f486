"""Every Redis key and stream name the project uses, in one place.

The API functions (producers) and the matcher (consumer) must agree on these byte for byte,
so nobody spells a key by hand anywhere else.
"""

from __future__ import annotations

CONSUMER_GROUP = "matcher"  # one consumer group per shard stream
COMMAND_FIELD = "c"  # the stream entry field holding the command's compact JSON
# How long a command may be retried and still be recognised as the same one: the
# matcher's dedupe window, the reply keys' lifetime and the API's Idempotency-Key records.
DEDUPE_WINDOW_MS = 300_000
REPLY_TTL_SECONDS = DEDUPE_WINDOW_MS // 1000
RECENT_KEEP = 1000  # members each sorted set of the recent-writes index keeps


def command_stream(shard: int) -> str:
    """The stream of commands for one shard (XADD by the API, XREADGROUP by the matcher)."""
    return f"sbs:cmd:{shard}"


def reply(command_id: str) -> str:
    """The matcher's answer to one command (JSON, EX REPLY_TTL_SECONDS)."""
    return f"sbs:reply:{command_id}"


def order(order_id: str) -> str:
    """The latest state of one order (DESIGN §2 order object plus `account`)."""
    return f"sbs:order:{order_id}"


def depth(symbol: str) -> str:
    """Top-of-book depth snapshot of one symbol (JSON)."""
    return f"sbs:depth:{symbol}"


def recent_orders(account: str) -> str:
    """The ids of the account's most recently changed orders (sorted set, score: time of
    the change in µs, exact in a double), so that its order lists show its own writes
    before MongoDB's projections have them."""
    return f"sbs:recent:orders:{account}"


def recent_trades(shard: int) -> str:
    """The shard's newest trades (sorted set of trade JSON, score: sequence), for the
    same reason, for trade lists."""
    return f"sbs:recent:trades:{shard}"


def lease(shard: int) -> str:
    """Who may write for a shard: the matcher whose token this key holds."""
    return f"sbs:lease:{shard}"


def rate_key(key_id: str) -> str:
    """The rate-limit token bucket of one API key (by its public key id)."""
    return f"sbs:rate:{key_id}"


def idempotency(account: str, key_digest: str) -> str:
    """The first request made with one Idempotency-Key (JSON, EX REPLY_TTL_SECONDS); the
    client's key is hashed into `key_digest`, so any text it chose is a safe key name."""
    return f"sbs:idem:{account}:{key_digest}"


def client_order_ids(account: str) -> str:
    """Which order holds each of the account's client_order_ids (hash: id -> "order ms")."""
    return f"sbs:coid:{account}"
