"""The API's read path (DESIGN §2, §4): one order, order and trade lists, the book.

Lists come from MongoDB's projections, which trail the matcher's replies by a moment. So
that an account always reads its own writes, each list also reads the recent-writes index
the matcher keeps in Redis (lib.keys.recent_orders / recent_trades) - only the part the
projector has not written yet, which the shard's progress document tells (`changed_us`,
`sequence`) - and merges it in; the Redis state of an order wins, being newer.

Pagination is by cursor, newest first: orders by (created_at, order_id), trades by
(execution_timestamp, sequence, unique_id). A cursor is the sort key of the last item
returned and the next page holds what sorts strictly below it, so items inserted meanwhile
(always newer) never shift a page. Order ids start with their creation time, so orders
placed within one millisecond still list newest first.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from pymongo import DESCENDING

from lib import keys, queue, redis_client
from lib.backends import Backends, Doc, reaching
from lib.errors import ErrorCode
from lib.order_flow import find_order
from lib.order_requests import ApiError, ListQuery, parse_book_query, parse_list_query
from lib.orders import public, public_trade
from lib.outcome import Outcome

SortKey = tuple[Any, ...]
ORDER_SORT = [("created_at", DESCENDING), ("_id", DESCENDING)]
TRADE_SORT = [("execution_timestamp", DESCENDING), ("sequence", DESCENDING), ("_id", DESCENDING)]


def get_order(b: Backends, account: str, order_id: str) -> Outcome:
    order = find_order(b, account, order_id)
    if order is None:
        return Outcome.of(ErrorCode.UNKNOWN_ORDER, "order_id")
    return Outcome.ok(order=public(order))


def list_orders(b: Backends, account: str, args: Mapping[str, str]) -> Outcome:
    query = parse_list_query(args, "orders", b.settings.symbols)
    if isinstance(query, ApiError):
        return Outcome.error(query)
    after = _decode_cursor(query.cursor, "o", (str, str))
    if isinstance(after, ApiError):
        return Outcome.error(after)
    match: Doc = {"account": account}
    for name in ("symbol", "status", "side"):
        value = getattr(query, name)
        if value is not None:
            match[name] = value

    def key(doc: Doc) -> SortKey:
        return (doc["created_at"], doc["order_id"])

    with reaching("mongodb"):
        # The progress first: what the projector writes after this read is then both in
        # MongoDB's results and above the watermark, never in neither (_page merges).
        watermark = min((p.get("changed_us", 0) for p in _progress(b)), default=0)
        fetched = [
            _newest(collection.find(_below(match, after, ["created_at", "_id"])), ORDER_SORT, query)
            for collection in (b.db.orders, b.db.open_orders)
        ]
    with reaching("redis"):
        recent = _recent_orders(b, account, watermark)
    return _page(fetched, recent, key, match, after, query, public)


def list_trades(b: Backends, args: Mapping[str, str]) -> Outcome:
    query = parse_list_query(args, "trades", b.settings.symbols)
    if isinstance(query, ApiError):
        return Outcome.error(query)
    after = _decode_cursor(query.cursor, "t", (str, int, str))
    if isinstance(after, ApiError):
        return Outcome.error(after)
    match: Doc = {}
    if query.symbol is not None:
        match["symbol"] = query.symbol
    if query.order_id is not None:
        match["$or"] = [{"bid_order_id": query.order_id}, {"ask_order_id": query.order_id}]
    if query.after_sequence is not None:
        match["sequence"] = {"$gt": query.after_sequence}

    def key(doc: Doc) -> SortKey:
        return (doc["execution_timestamp"], doc["sequence"], doc["unique_id"])

    with reaching("mongodb"):
        # The progress before the trades, as for orders: a round projected in between is
        # then in both answers, not in neither.
        projected = {int(p["_id"].split(":")[1]): int(p.get("sequence", 0)) for p in _progress(b)}
        cursor_fields = ["execution_timestamp", "sequence", "_id"]
        fetched = [
            _newest(b.db.trades.find(_below(match, after, cursor_fields)), TRADE_SORT, query)
        ]
    with reaching("redis"):
        recent = []
        for shard in range(b.settings.shards):
            raw = redis_client.command(
                b.redis,
                "ZRANGEBYSCORE",
                keys.recent_trades(shard),
                f"({projected.get(shard, 0)}",
                "+inf",
            )
            recent += [json.loads(item) for item in raw or []]
    return _page(fetched, recent, key, match, after, query, public_trade)


def book(b: Backends, args: Mapping[str, str]) -> Outcome:
    query = parse_book_query(args, b.settings.symbols)
    if isinstance(query, ApiError):
        return Outcome.error(query)
    symbol, levels = query
    with reaching("redis"):
        depth = queue.cached_depth(b.redis, symbol)
    if depth is None:  # the matcher has not published this book yet: it is empty
        return Outcome.ok(symbol=symbol, bids=[], asks=[], timestamp=None, sequence=0)
    return Outcome.ok(
        symbol=symbol,
        bids=depth["bids"][:levels],
        asks=depth["asks"][:levels],
        timestamp=depth["timestamp"],
        sequence=depth["sequence"],
    )


# --- merging ---------------------------------------------------------------------------


def _progress(b: Backends) -> list[Doc]:
    """The progress document of every configured shard (a missing one counts as zero)."""
    found = {
        doc["_id"]: doc for doc in b.db.matcher_state.find({}, {"changed_us": 1, "sequence": 1})
    }
    return [
        found.get(f"shard:{shard}", {"_id": f"shard:{shard}"}) for shard in range(b.settings.shards)
    ]


def _recent_orders(b: Backends, account: str, watermark_us: int) -> list[Doc]:
    """The cached state of the account's orders changed since `watermark_us` (inclusive:
    a change in the same µs as the projected one may not be projected yet)."""
    ids = redis_client.command(
        b.redis, "ZRANGEBYSCORE", keys.recent_orders(account), watermark_us, "+inf"
    )
    if not ids:
        return []
    raws = redis_client.command(
        b.redis, "MGET", *(keys.order(redis_client.text(i) or "") for i in ids)
    )
    docs = [json.loads(raw) for raw in raws if raw is not None]
    return [doc for doc in docs if doc.get("account") == account]


def _newest(found: Any, sort: list[tuple[str, int]], query: ListQuery) -> list[Doc]:
    return list(found.sort(sort).limit(query.limit + 1))


def _below(match: Doc, after: SortKey | None, fields: list[str]) -> Doc:
    """`match`, restricted to what sorts strictly below the cursor `after` (descending)."""
    if after is None:
        return match
    alternatives = []
    for i, name in enumerate(fields):
        clause: Doc = {fields[j]: after[j] for j in range(i)}
        clause[name] = {"$lt": after[i]}
        alternatives.append(clause)
    return {"$and": [match, {"$or": alternatives}]} if match else {"$or": alternatives}


def _page(
    fetched: list[list[Doc]],
    recent: list[Doc],
    key: Callable[[Doc], SortKey],
    match: Doc,
    after: SortKey | None,
    query: ListQuery,
    shown: Callable[[Doc], Doc],
) -> Outcome:
    """One page from MongoDB's sorted results (each fetched with limit + 1) and the newer
    state from Redis. Where a MongoDB result was cut off, only what sorts at or above its
    last document is certain to be complete; the page stops there."""
    merged: dict[str, Doc] = {}
    for docs in fetched:
        for doc in docs:
            merged.setdefault(doc["_id"], doc)
    for doc in recent:
        merged[_id_of(doc)] = doc
    floor = max((key(docs[-1]) for docs in fetched if len(docs) > query.limit), default=None)
    candidates = sorted(
        (
            doc
            for doc in merged.values()
            if _matches(doc, match)
            and (after is None or key(doc) < after)
            and (floor is None or key(doc) >= floor)
        ),
        key=key,
        reverse=True,
    )
    page = candidates[: query.limit]
    more = len(candidates) > query.limit or floor is not None
    next_key = key(page[-1]) if page else floor
    next_cursor = (
        _encode_cursor("o" if query.kind == "orders" else "t", next_key)
        if more and next_key
        else None
    )
    return Outcome.ok(data=[shown(doc) for doc in page], next_cursor=next_cursor)


def _id_of(doc: Doc) -> str:
    return str(doc.get("order_id") or doc.get("unique_id"))


def _matches(doc: Doc, match: Doc) -> bool:
    for name, want in match.items():
        if name == "$or":
            if not any(_matches(doc, alternative) for alternative in want):
                return False
        elif isinstance(want, dict):  # {"$gt": n}, the one operator lists use
            if not doc.get(name, 0) > want["$gt"]:
                return False
        elif doc.get(name) != want:
            return False
    return True


# --- cursors ---------------------------------------------------------------------------


def _encode_cursor(kind: str, key: SortKey) -> str:
    text = json.dumps([kind, *key], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(
    cursor: str | None, kind: str, types: tuple[type, ...]
) -> SortKey | ApiError | None:
    """The sort key a cursor of this list carries; anything else is `invalid_cursor`."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        return ApiError.of(ErrorCode.INVALID_CURSOR, "cursor")
    valid = (
        isinstance(value, list)
        and len(value) == len(types) + 1
        and value[0] == kind
        and all(type(part) is want for part, want in zip(value[1:], types, strict=True))
    )
    if not valid:
        return ApiError.of(ErrorCode.INVALID_CURSOR, "cursor")
    return tuple(value[1:])
