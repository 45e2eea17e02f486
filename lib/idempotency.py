"""`Idempotency-Key`: a retried write returns the first request's result, never a second effect.

The first request with a key stores its *command* (with the ids the API assigned) under
the account and the key's hash, `SET NX`, for the dedupe window (lib.keys.DEDUPE_WINDOW_MS,
the same five minutes in which the matcher recognises a repeated command_id). Every later
request with that key - a sequential retry or a concurrent one racing the first - takes
the stored command instead of its own and submits *it*: the matcher applies a command_id
once and answers every repeat with the first reply, so all of them get the same order.
Submitting again (rather than only waiting for the first request's reply) is what makes a
retry safe when the first request died between storing the command and enqueuing it.

A key reused with a different request (another body, route or order) is refused with
`idempotency_key_reused`: the stored fingerprint is the canonical JSON of the validated
request, so spelling, field order and white space do not matter, only meaning does.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from lib import keys, redis_client
from lib.commands import QueuedCommand, dump_command, parse_command

MAX_KEY_LEN = 64
_KEY_RE = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LEN}}}")  # printable ASCII, no spaces


def valid_key(value: str) -> bool:
    return _KEY_RE.fullmatch(value) is not None


def fingerprint(operation: str, target: str | None, request: dict[str, Any]) -> str:
    text = json.dumps([operation, target, request], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    command: QueuedCommand  # the command to submit: this request's own, or the first request's
    first: bool  # whether this request is the first with its key
    conflict: bool  # the key was first used for a different request


def claim(
    client: Any, account: str, key: str, request_fingerprint: str, command: QueuedCommand
) -> Claim:
    digest = hashlib.sha256(key.encode()).hexdigest()
    record = json.dumps({"fingerprint": request_fingerprint, "command": dump_command(command)})
    name = keys.idempotency(account, digest)
    ttl = keys.REPLY_TTL_SECONDS
    # SET NX GET (Redis >= 7): claims the key, or returns what the first request stored, in
    # one atomic step, so two concurrent first attempts cannot both win.
    earlier = redis_client.text(
        redis_client.command(client, "SET", name, record, "NX", "GET", "EX", ttl)
    )
    if earlier is None:
        return Claim(command, first=True, conflict=False)
    stored = json.loads(earlier)
    if stored["fingerprint"] != request_fingerprint:
        return Claim(command, first=False, conflict=True)
    return Claim(parse_command(stored["command"]), first=False, conflict=False)
