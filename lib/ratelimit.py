"""Per-API-key rate limit: a token bucket kept in Redis, decided by one Lua script.

Every API function instance (many, short-lived, on Vercel) asks the same Redis, so the
limit holds for the key as a whole, not per instance. The whole read-refill-take-write
step is one script, which Redis runs atomically: concurrent requests can never both spend
the same token (a GET-then-SET in Python could). The script reads the clock with Redis's
own `TIME`, so instances whose clocks disagree still agree on the refill (Redis >= 5
replicates a script's effects, which is what makes `TIME` before a write allowed).

Bucket: `burst` tokens at most, refilled continuously at `rate_per_s`; a request takes one.
State is a hash `{tokens, ts}` under `rate_key(key_id)`. An idle key expires once it would
be full again (plus a second), since a missing key *is* a full bucket: Redis keeps no state
for keys that are not in use.

Works with both Redis clients, like lib/queue.py: the Upstash REST SDK
(`upstash_redis.Redis`; REST has no connection state, but EVAL/EVALSHA are plain requests)
and redis-py (`redis.Redis`), through lib.redis_client.Script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lib.keys import rate_key
from lib.redis_client import Script

MAX_ID_LEN = 128

# The bucket as a Lua function, so that other scripts can take a token in the same atomic
# step as their own writes (lib/queue.py's admitted enqueue). Arguments: the bucket's key,
# rate (tokens per second), burst, now in ms or "" for TIME. Returns
# {allowed (0/1), ms until one token is available (0 when allowed)}.
BUCKET_FUNCTION = """
local function take_token(bucket, rate_arg, burst_arg, now_arg)
  local rate = tonumber(rate_arg)
  local burst = tonumber(burst_arg)
  local now = tonumber(now_arg)
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  local state = redis.call('HMGET', bucket, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil or ts == nil then
    tokens = burst
    ts = now
  elseif now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
    ts = now
  end
  local allowed = 0
  local wait_ms = 0
  if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
  else
    wait_ms = math.ceil((1 - tokens) * 1000 / rate)
  end
  redis.call('HSET', bucket, 'tokens', string.format('%.17g', tokens),
             'ts', string.format('%.17g', ts))
  redis.call('PEXPIRE', bucket, math.ceil((burst - tokens) * 1000 / rate) + 1000)
  return {allowed, wait_ms}
end
"""
# KEYS[1]: the bucket. ARGV: rate, burst, now in ms or "".
SCRIPT = BUCKET_FUNCTION + "return take_token(KEYS[1], ARGV[1], ARGV[2], ARGV[3])\n"
_BUCKET = Script(SCRIPT)
SCRIPT_SHA = _BUCKET.sha


@dataclass(frozen=True, slots=True)
class Decision:
    """`retry_after_s` is 0 when allowed, else whole seconds (>= 1) for a Retry-After header:
    rounded up, so a client that waits that long finds a token."""

    allowed: bool
    retry_after_s: int


def allow(
    client: Any, key_id: str, rate_per_s: float, burst: int, now_ms: int | None = None
) -> Decision:
    """Take one token from `key_id`'s bucket if there is one.

    `now_ms` overrides the server's clock (deterministic tests, replays); production leaves
    it None so that every instance uses Redis's TIME. Raises ValueError for a rate or
    burst that is not positive, and the client's own error when Redis fails (the caller
    decides whether to fail open or closed).
    """
    reply = _BUCKET(client, [rate_key(key_id)], bucket_args(key_id, rate_per_s, burst, now_ms))
    return decision(int(reply[0]), int(reply[1]))


def bucket_args(key_id: str, rate_per_s: float, burst: int, now_ms: int | None) -> list[str | int]:
    """BUCKET_FUNCTION's arguments after the bucket's key, checked; ValueError if nonsense."""
    if not key_id or len(key_id) > MAX_ID_LEN:
        raise ValueError(f"key_id must be 1 to {MAX_ID_LEN} characters")
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError("rate_per_s must be a positive number")
    if burst < 1:
        raise ValueError("burst must be at least 1")
    return [repr(float(rate_per_s)), int(burst), "" if now_ms is None else int(now_ms)]


def decision(allowed: int, wait_ms: int) -> Decision:
    if allowed:
        return Decision(allowed=True, retry_after_s=0)
    return Decision(allowed=False, retry_after_s=max(1, math.ceil(wait_ms / 1000)))
