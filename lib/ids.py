"""Ids the API assigns before it enqueues (DESIGN §4): order ids and command ids.

`o` / `c`, the creation time in ms as 12 hex digits, then 64 random bits as 16 hex digits:
29 characters of lib.commands.Id. Random enough that two instances never collide (the
matcher refuses a reused order id anyway), and time-ordered, so that orders placed within
one millisecond of the matcher's clock still list newest first by id.
"""

from __future__ import annotations

import secrets
import time


def _new(prefix: str, now_ms: int | None) -> str:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}{ms:012x}{secrets.token_hex(8)}"


def new_order_id(now_ms: int | None = None) -> str:
    return _new("o", now_ms)


def new_command_id(now_ms: int | None = None) -> str:
    return _new("c", now_ms)
