"""One batch of queued commands and what applying it changed.

`Entry` is a stream entry as read; `BatchResult` is everything a batch changed (journal
content, projection documents, replies, depth snapshots), which the caller persists.
Applying is `ShardState.apply` (matcher/service/state.py): pure computation, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matcher.service.memory import Remembered


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its id and the command's raw JSON."""

    stream_id: str
    raw: str


@dataclass(slots=True)
class BatchResult:
    entries: list[Entry]
    timestamp: int
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # last state wins
    trades: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)  # command_id -> reply
    # The same replies as JSON, encoded once for the dedupe memory and the reply keys alike.
    encoded_replies: dict[str, bytes] = field(default_factory=dict)
    new_orders: set[str] = field(default_factory=set)  # first seen in this batch
    depth: dict[str, dict[str, Any]] = field(default_factory=dict)  # symbol -> snapshot
    remembered: list[Remembered] = field(default_factory=list)  # for the dedupe memory
    dedupe_floor: int = -1  # the memory's floor and newest after this batch
    received_newest: int = 0
    sequence: int = 0
    applied: int = 0  # commands that reached the engine
    duplicates: int = 0
