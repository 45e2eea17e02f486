"""The journal document of one batch: everything needed to redo its effects after a crash.

Inserting it is the batch's commit point (a single-document insert is atomic on every
MongoDB-compatible store). The projections, the Redis cache, the replies and the stream
acknowledgements are all derived from it, so recovery can repeat them from here alone.
The payload (orders, trades, replies, depth, remembered commands) is one JSON blob,
zlib-compressed unless it is small. The store never queries inside it; one binary field
is far cheaper to write on FerretDB than thousands of nested documents; and compressed it
is about a tenth of the bytes (a full batch of 1,000 commands: 657 kB of JSON, 60 kB
stored; its insert took 13 ms as JSON text, 5.5 ms compressed, the 1.8 ms of compressing
included; docs/BENCHMARKS.md).

A batch whose stored payload would not fit one document comfortably (MongoDB's limit is
16 MB; one market order sweeping 25,000 resting orders stores 0.9 MB) is written as parts
first, in `journal_parts`, then the batch document that names them: that last
insert is still the one atomic commit point, and parts without a batch document are
ignored and pruned.
"""

from __future__ import annotations

import time
import zlib
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson

from matcher.service.batch import BatchResult
from matcher.service.documents import public_order
from matcher.service.memory import Remembered
from matcher.service.store import journal_id

Doc = dict[str, Any]
INLINE_BYTES = 512 * 1024  # a stored payload up to this size stays in the batch document
PART_BYTES = 512 * 1024  # larger ones go to parts of this size
# The batch document's `encoding`: how its payload is stored.
COMPRESSED, PLAIN = "zlib-json", "json"
COMPRESSION_LEVEL = 1  # level 6 makes it 30 % smaller in 2.7 times the time
# zlib lets go of the GIL while it compresses, and getting it back can cost the loop a
# switch interval (1 ms): for a small payload (a batch of a few commands under light
# load) that costs more than the bytes it saves (steady 1,000/s: +140 µs a batch).
COMPRESS_ABOVE = 16 * 1024
# How journals written before the `encoding` field stored the payload: JSON text fields.
TEXT_FIELDS = ("orders", "trades", "replies", "depth", "remembered")


SAME_ORDER = "="  # in a journalled reply: the order object is the batch's final document


@dataclass(slots=True)
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
    remembered: list[Remembered] = field(default_factory=list)
    dedupe_floor: int = -1
    received_newest: int = 0
    committed_at: float = field(default_factory=time.monotonic, compare=False)
    # The replies as JSON, encoded once by the dedupe memory for the reply keys too (not
    # journalled: a batch read back from the journal encodes its replies again).
    encoded_replies: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)
    # Each order's public object (what clients see), built once for the journal's replies
    # and the Redis order cache alike.
    public_orders: dict[str, Doc] = field(init=False, compare=False, repr=False)
    # Set once by the committer: done when the batch's real-time events have gone out.
    emitted: Future[None] | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.public_orders = {doc["_id"]: public_order(doc) for doc in self.orders}

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
            remembered=result.remembered,
            dedupe_floor=result.dedupe_floor,
            received_newest=result.received_newest,
            encoded_replies=result.encoded_replies,
        )

    def documents(self, writer: str, timestamp: int) -> tuple[Doc, list[Doc]]:
        """The batch document and, for a large batch, the parts to insert before it."""
        doc: Doc = {
            "_id": journal_id(self.shard, self.batch),
            "shard": self.shard,
            "batch": self.batch,
            "writer": writer,
            "timestamp": timestamp,
            "sequence": self.sequence,
            "stream_ids": self.stream_ids,
            "new_orders": sorted(self.new_orders),
            # What recovery and pruning query: the dedupe memory's state after the batch,
            # and the newest received_at of its commands.
            "dedupe_floor": self.dedupe_floor,
            "received_newest": self.received_newest,
            "received_max": max((r.received_at for r in self.remembered), default=0),
        }
        payload = {
            "orders": self.orders,
            "trades": self.trades,
            "replies": self._replies_by_reference(),
            "depth": self.depth,
            "remembered": [[r.command_id, r.received_at, r.order_id] for r in self.remembered],
        }
        encoded = orjson.dumps(payload)
        if len(encoded) > COMPRESS_ABOVE:
            blob, encoding = zlib.compress(encoded, COMPRESSION_LEVEL), COMPRESSED
        else:
            blob, encoding = encoded, PLAIN
        doc |= {"encoding": encoding, "payload_bytes": len(encoded)}
        if len(blob) <= INLINE_BYTES:
            return doc | {"payload": blob}, []
        parts = [
            {
                "_id": f"{doc['_id']}:{writer}:{k}",
                "shard": self.shard,
                "batch": self.batch,
                "timestamp": timestamp,
                "data": blob[start : start + PART_BYTES],
            }
            for k, start in enumerate(range(0, len(blob), PART_BYTES))
        ]
        return doc | {"parts": [p["_id"] for p in parts]}, parts

    def _replies_by_reference(self) -> dict[str, Doc]:
        """The replies, with SAME_ORDER for an order object equal to the order's final
        document in this batch: most are, and they were ~40 % of the journal's bytes."""
        slim: dict[str, Doc] = {}
        for command_id, reply in self.replies.items():
            order = reply.get("order")
            same = order is not None and self.public_orders.get(reply["order_id"]) == order
            slim[command_id] = {**reply, "order": SAME_ORDER} if same else reply
        return slim

    @staticmethod
    def payload_bytes(doc: Doc) -> int:
        """How much a batch's payload weighs uncompressed: what building, committing and
        recovering it holds in memory (what --max-commit-bytes bounds)."""
        return int(doc["payload_bytes"])

    @classmethod
    def from_document(cls, doc: Doc, parts: list[bytes] | None = None) -> JournalBatch:
        """Read a batch document back; `parts`: the data of its parts, in order."""
        payload = _stored_payload(doc, parts)
        batch = cls(
            shard=int(doc["shard"]),
            batch=int(doc["batch"]),
            stream_ids=[str(i) for i in doc["stream_ids"]],
            sequence=int(doc["sequence"]),
            orders=payload["orders"],
            new_orders=set(doc["new_orders"]),
            trades=payload["trades"],
            replies=payload["replies"],
            depth=payload["depth"],
            # .get: a journal written before the dedupe rule remembered nothing.
            remembered=[Remembered(c, int(r), o) for c, r, o in payload.get("remembered", [])],
            dedupe_floor=int(doc.get("dedupe_floor", -1)),
            received_newest=int(doc.get("received_newest", 0)),
        )
        for reply in batch.replies.values():
            if reply.get("order") == SAME_ORDER:
                reply["order"] = batch.public_orders[reply["order_id"]]
        return batch


def _stored_payload(doc: Doc, parts: list[bytes] | None) -> Doc:
    """The payload of a batch document, wherever and however it was stored."""
    if "payload" in doc:
        blob = bytes(doc["payload"])
    elif "parts" in doc:
        if parts is None or len(parts) != len(doc["parts"]):
            raise ValueError(f"journal batch {doc['_id']}: parts missing")
        blob = b"".join(parts)
    else:  # written before the `encoding` field: one JSON text field each
        return {name: orjson.loads(doc[name]) for name in TEXT_FIELDS if name in doc}
    if doc.get("encoding") == COMPRESSED:
        blob = zlib.decompress(blob)
    payload: Doc = orjson.loads(blob)
    return payload
