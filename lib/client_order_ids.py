"""`client_order_id` is unique among an account's live orders (DESIGN §2), across shards.

Each account has one hash, client_order_id -> "order_id reserved_at_ms". A place reserves
its id before it is enqueued, in one script, which lets the reservation pass when:
- nobody holds the id, or this very order does (a retried request);
- the holder has ended (its cached state says `order_alive: false`): ids are reusable;
- the holder has no state at all and was reserved longer ago than the dedupe window: its
  request died before it was enqueued (or the matcher refused it as stale), so that order
  can never exist any more.
A holder that is pending (its placeholder is cached before the enqueue) or live keeps the
id, and the place is refused with 409 `duplicate_client_order_id`.

Why in Redis rather than in the matcher: an account's orders live on every shard, and only
the shared Redis sees them all. Entries are never deleted (a later place takes the id
over), so the hash holds one field per distinct id an account ever used, like the order
cache holds one key per order.
"""

from __future__ import annotations

from typing import Any

from lib import keys, redis_client
from lib.redis_client import Script

# KEYS[1]: the account's hash. ARGV: client_order_id, order_id, now ms, window ms, the
# order-cache key prefix. Returns the holder's order id when the id is taken, else nil.
# The holder's cache key is built inside the script: it cannot be known before the HGET.
_RESERVE = Script("""
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local gap = string.find(current, ' ', 1, true)
  local holder = string.sub(current, 1, gap - 1)
  if holder == ARGV[2] then return false end
  local state = redis.call('GET', ARGV[5] .. holder)
  if state then
    if cjson.decode(state)['order_alive'] then return holder end
  elseif tonumber(ARGV[3]) - tonumber(string.sub(current, gap + 1)) <= tonumber(ARGV[4]) then
    return holder
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return false
""")


def reserve(client: Any, account: str, client_order_id: str, order_id: str, now_ms: int) -> bool:
    """Whether `order_id` may carry `client_order_id` (it now holds it)."""
    holder = _RESERVE(
        client,
        [keys.client_order_ids(account)],
        [client_order_id, order_id, now_ms, keys.DEDUPE_WINDOW_MS, keys.order("")],
    )
    return redis_client.text(holder) is None
