"""The journal document of one batch: everything needed to redo its effects after a crash.

Inserting it is the batch's commit point (a single-document insert is atomic on every
MongoDB-compatible store). The projections, the Redis cache, the replies and the stream
acknowledgements are all derived from it, so recovery can repeat them from here alone.
Bulky parts are stored as JSON text: the store never queries inside them, and one string
field is far cheaper to write on FerretDB than thousands of nested documents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from matcher.service.batch import BatchResult
from matcher.service.documents import public_order
from matcher.service.store import journal_id

Doc = dict[str, Any]


SAME_ORDER = "="  # in a journalled reply: the order object is the batch's final document


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class JournalBatch:
    """A committed batch as the steps after the commit point need it."""

    shard: int
    batch: int
    stream_ids: list[str]
    sequence: int
    orders: list[Doc]
    new_orders: set[str]
    trades: list[Doc]
    replies: dict[str, Doc]
    depth: dict[str, Doc]
    committed_at: float = field(default_factory=time.monotonic, compare=False)
    # Each order's public object (what clients see), built once for the journal's replies
    # and the Redis order cache alike.
    public_orders: dict[str, Doc] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        public = {doc["_id"]: public_order(doc) for doc in self.orders}
        object.__setattr__(self, "public_orders", public)

    @property
    def last_stream_id(self) -> str:
        return self.stream_ids[-1]

    @classmethod
    def of(cls, shard: int, batch: int, result: BatchResult) -> JournalBatch:
        return cls(
            shard=shard,
            batch=batch,
            stream_ids=[e.stream_id for e in result.entries],
            sequence=result.sequence,
            orders=list(result.orders.values()),
            new_orders=result.new_orders,
            trades=result.trades,
            replies=result.replies,
            depth=result.depth,
        )

    def document(self, writer: str, timestamp: int) -> Doc:
        return {
            "_id": journal_id(self.shard, self.batch),
            "shard": self.shard,
            "batch": self.batch,
            "writer": writer,
            "timestamp": timestamp,
            "sequence": self.sequence,
            "stream_ids": self.stream_ids,
            "new_orders": sorted(self.new_orders),
            "orders": _dumps(self.orders),
            "trades": _dumps(self.trades),
            "replies": _dumps(self._replies_by_reference()),
            "depth": _dumps(self.depth),
        }

    def _replies_by_reference(self) -> dict[str, Doc]:
        """The replies, with SAME_ORDER for an order object equal to the order's final
        document in this batch: most are, and they were ~40 % of the journal's bytes."""
        slim: dict[str, Doc] = {}
        for command_id, reply in self.replies.items():
            order = reply.get("order")
            same = order is not None and self.public_orders.get(reply["order_id"]) == order
            slim[command_id] = {**reply, "order": SAME_ORDER} if same else reply
        return slim

    @classmethod
    def from_document(cls, doc: Doc) -> JournalBatch:
        batch = cls(
            shard=int(doc["shard"]),
            batch=int(doc["batch"]),
            stream_ids=[str(i) for i in doc["stream_ids"]],
            sequence=int(doc["sequence"]),
            orders=orjson.loads(doc["orders"]),
            new_orders=set(doc["new_orders"]),
            trades=orjson.loads(doc["trades"]),
            replies=orjson.loads(doc["replies"]),
            depth=orjson.loads(doc["depth"]),
        )
        for reply in batch.replies.values():
            if reply.get("order") == SAME_ORDER:
                reply["order"] = batch.public_orders[reply["order_id"]]
        return batch
