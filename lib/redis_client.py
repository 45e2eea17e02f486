"""One way to send a raw command through either Redis client the project uses: the
Upstash REST SDK (`upstash_redis.Redis`, what the API functions run on Vercel) and
redis-py (`redis.Redis`, the matcher, tests, tools). Everything in `lib/` that talks to
Redis goes through `command`, so the two code paths cannot drift apart."""

from __future__ import annotations

from typing import Any


def is_upstash(client: Any) -> bool:
    return type(client).__module__.startswith("upstash_redis")


def command(client: Any, *args: str | int) -> Any:
    if is_upstash(client):
        return client.execute([str(a) for a in args])
    return client.execute_command(*args)
