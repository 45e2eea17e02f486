"""What a command did, in the order it happened.

Events are plain value objects: they copy what they report instead of pointing at
mutable orders, so a list of events never changes after it is returned and a replay
of the same commands yields equal events.
"""

from dataclasses import dataclass

from matcher.core.types import (
    CancelReason,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)


@dataclass(slots=True)
class OrderAccepted:
    """A new order entered the engine; its state follows in an OrderUpdated."""

    order_id: str
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: int | None
    quantity: int
    post_only: bool
    client_order_id: str | None
    timestamp: int


@dataclass(slots=True)
class OrderRejected:
    """The command changed nothing. `command` is "place", "modify" or "cancel"."""

    order_id: str
    account: str
    command: str
    reason: RejectReason
    timestamp: int


@dataclass(slots=True)
class OrderModified:
    order_id: str
    price: int | None
    quantity: int
    lost_priority: bool
    timestamp: int


@dataclass(slots=True)
class TradeExecuted:
    """One fill, always at the resting (maker) order's price."""

    sequence: int
    trade_id: str
    symbol: str
    price: int
    quantity: int
    buy_order_id: str
    sell_order_id: str
    maker_order_id: str
    taker_order_id: str
    aggressor_side: Side
    timestamp: int


@dataclass(slots=True)
class OrderUpdated:
    """An order's state after the command; one per order the command touched.

    traded_quantity + remaining_quantity + cancelled_quantity == quantity always.
    """

    order_id: str
    status: OrderStatus
    price: int | None
    quantity: int
    traded_quantity: int
    remaining_quantity: int
    cancelled_quantity: int
    traded_notional: int  # sum of price * qty over fills, in ticks
    cancel_reason: CancelReason | None
    timestamp: int


Event = OrderAccepted | OrderRejected | OrderModified | TradeExecuted | OrderUpdated
