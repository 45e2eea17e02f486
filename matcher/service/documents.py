"""Order and trade documents (DESIGN §2 shapes) built from the engine's events.

`OrderView` is the service's record of one order: the static fields the engine's
OrderUpdated events do not repeat (account, symbol, side, ...) plus the latest dynamic
state. Its `doc()` is what goes to MongoDB `orders`, the Redis order cache and replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lib.config import SymbolSpec
from lib.orders import RECOVERY_FIELDS, iso_ms
from lib.prices import average_price, from_ticks, to_json_number
from matcher.core import (
    CancelReason,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradeExecuted,
)


# A batch stamps every event with one timestamp and prices cluster near the touch, so
# these conversions see few distinct inputs: caching them (iso_ms too) halves the apply stage.
@lru_cache(maxsize=65536)
def price_number(ticks: int | None, spec: SymbolSpec) -> int | float | None:
    return None if ticks is None else to_json_number(from_ticks(ticks, spec))


@dataclass(slots=True)
class OrderView:
    order_id: str
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    client_order_id: str | None
    created_ns: int
    price: int | None  # ticks
    quantity: int
    traded: int = 0
    remaining: int = 0
    cancelled: int = 0
    notional: int = 0  # ticks x shares
    status: OrderStatus = OrderStatus.OPEN
    cancel_reason: CancelReason | None = None
    updated_ns: int = 0
    priority: int = 0

    @property
    def alive(self) -> bool:
        return self.status.alive

    def doc(self, spec: SymbolSpec) -> dict[str, Any]:
        average = average_price(self.notional, self.traded, spec)
        return {
            "_id": self.order_id,
            "order_id": self.order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side.label,
            "type": self.order_type.value,
            "time_in_force": self.time_in_force.value,
            "order_price": price_number(self.price, spec),
            "order_quantity": self.quantity,
            "traded_quantity": self.traded,
            "remaining_quantity": self.remaining,
            "average_traded_price": None if average is None else to_json_number(average),
            "order_alive": self.alive,
            "status": self.status.value,
            "cancel_reason": None if self.cancel_reason is None else self.cancel_reason.value,
            "client_order_id": self.client_order_id,
            "created_at": iso_ms(self.created_ns),
            "updated_at": iso_ms(self.updated_ns),
            # Beyond the public object: exact state for recovery (restore needs ticks,
            # notional and time priority) and the figures the API may show.
            "post_only": self.post_only,
            "priority": self.priority,
            "price_ticks": self.price,
            "traded_notional": self.notional,
            "cancelled_quantity": self.cancelled,
            "created_ns": self.created_ns,
            "updated_ns": self.updated_ns,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> OrderView:
        return cls(
            order_id=doc["order_id"],
            account=doc["account"],
            symbol=doc["symbol"],
            side=Side.BUY if doc["side"] == "buy" else Side.SELL,
            order_type=OrderType(doc["type"]),
            time_in_force=TimeInForce(doc["time_in_force"]),
            post_only=bool(doc.get("post_only", False)),
            client_order_id=doc.get("client_order_id"),
            created_ns=int(doc["created_ns"]),
            price=doc.get("price_ticks"),
            quantity=int(doc["order_quantity"]),
            traded=int(doc["traded_quantity"]),
            remaining=int(doc["remaining_quantity"]),
            cancelled=int(doc.get("cancelled_quantity", 0)),
            notional=int(doc.get("traded_notional", 0)),
            status=OrderStatus(doc["status"]),
            cancel_reason=None
            if doc.get("cancel_reason") is None
            else CancelReason(doc["cancel_reason"]),
            updated_ns=int(doc["updated_ns"]),
            priority=int(doc.get("priority", 0)),
        )


def public_order(doc: dict[str, Any]) -> dict[str, Any]:
    """The order object plus `account` (the API checks ownership with it and drops it)."""
    return {k: v for k, v in doc.items() if k not in RECOVERY_FIELDS}


def trade_doc(trade: TradeExecuted, spec: SymbolSpec) -> dict[str, Any]:
    return {
        "_id": trade.trade_id,
        "unique_id": trade.trade_id,
        "symbol": trade.symbol,
        "execution_timestamp": iso_ms(trade.timestamp),
        "price": price_number(trade.price, spec),
        "qty": trade.quantity,
        "bid_order_id": trade.buy_order_id,
        "ask_order_id": trade.sell_order_id,
        "aggressor_side": trade.aggressor_side.label,
        "sequence": trade.sequence,
        "maker_order_id": trade.maker_order_id,
        "price_ticks": trade.price,
    }
