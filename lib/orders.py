"""The order object of DESIGN §2 as the API and the matcher both write it.

The matcher writes each order's state to the Redis order cache with `account` added (the
API checks ownership with it); `public()` is what a client sees. Before the matcher has
applied a place, the API writes a `pending` placeholder of the same shape, so that the
order can be fetched, listed and cancelled at once (it is replaced when the matcher
writes the real state, and expires if the command never arrives).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from lib.commands import PlaceCommand
from lib.prices import to_json_number

Doc = dict[str, Any]

ALIVE_STATUSES = frozenset({"pending", "open", "partially_filled"})
# In MongoDB for recovery (ticks, notional, time priority, ns clocks), never shown to clients.
RECOVERY_FIELDS = frozenset(
    {"_id", "priority", "price_ticks", "traded_notional", "created_ns", "updated_ns"}
)
# ... nor is `account`, which the cache keeps so the API can check ownership.
_INTERNAL = RECOVERY_FIELDS | {"account"}
# The trade object of DESIGN §2, field for field (REST, the recent-writes index, Socket.IO).
TRADE_FIELDS = ("unique_id", "symbol", "execution_timestamp", "price", "qty", "bid_order_id",
                "ask_order_id", "aggressor_side", "sequence")  # fmt: skip


@lru_cache(maxsize=4096)
def iso_ms(ns: int) -> str:
    """Epoch nanoseconds as the API's timestamp text: 2026-11-25T09:30:00.123Z."""
    stamp = datetime.fromtimestamp(ns // 1_000_000 / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns // 1_000_000 % 1000:03d}Z"


def public(doc: Doc) -> Doc:
    """The order object of DESIGN §2 from a cached, MongoDB or placeholder document."""
    return {k: v for k, v in doc.items() if k not in _INTERNAL}


def public_trade(doc: Doc) -> Doc:
    """The trade object from a trade document (MongoDB's, the matcher's, or already public)."""
    return {name: doc[name] for name in TRADE_FIELDS}


def pending_order(command: PlaceCommand, now_ns: int) -> Doc:
    """The placeholder for a place the matcher has not applied yet (with `account`)."""
    stamp = iso_ms(now_ns)
    price = None if command.price is None else to_json_number(Decimal(command.price))
    return {
        "order_id": command.order_id,
        "account": command.account,
        "symbol": command.symbol,
        "side": command.side,
        "type": command.order_type,
        "time_in_force": command.time_in_force,
        "order_price": price,
        "order_quantity": command.quantity,
        "traded_quantity": 0,
        "remaining_quantity": command.quantity,
        "average_traded_price": None,
        "order_alive": True,
        "status": "pending",
        "cancel_reason": None,
        "client_order_id": command.client_order_id,
        "created_at": stamp,
        "updated_at": stamp,
        "post_only": command.post_only,
        "cancelled_quantity": 0,
    }
