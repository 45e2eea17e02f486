"""One way to send a raw command through either Redis client the project uses: the
Upstash REST SDK (`upstash_redis.Redis`, what the API functions run on Vercel) and
redis-py (`redis.Redis`, the matcher, tests, tools). Everything in `lib/` that talks to
Redis goes through `command`, so the two code paths cannot drift apart."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def is_upstash(client: Any) -> bool:
    return type(client).__module__.startswith("upstash_redis")


def command(client: Any, *args: str | int) -> Any:
    if is_upstash(client):
        return client.execute([str(a) for a in args])
    return client.execute_command(*args)


def text(value: Any) -> str | None:
    """A reply value as text: redis-py gives bytes, the Upstash SDK str."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Script:
    """A Lua script sent by its SHA-1 (EVALSHA: 40 bytes instead of the source); on
    NOSCRIPT (a new or flushed server) EVAL runs it and loads it for the next call."""

    source: str
    # SHA-1 because EVALSHA names scripts by it; nothing secret depends on it.
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)

    def __call__(self, client: Any, keys: list[str], args: list[str | int]) -> Any:
        try:
            return command(client, "EVALSHA", self.sha, len(keys), *keys, *args)
        except Exception as exc:
            if not _is_noscript(exc):
                raise
            return command(client, "EVAL", self.source, len(keys), *keys, *args)


def _is_noscript(exc: Exception) -> bool:
    # redis-py raises NoScriptError and drops the "NOSCRIPT" code from the message; the
    # Upstash SDK raises UpstashError with the server's text. Matched by text so that this
    # module needs neither client's exception classes.
    text = str(exc)
    return "NOSCRIPT" in text or "No matching script" in text
