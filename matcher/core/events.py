"""What a command did, in the order it happened.

Events are plain value objects: they copy what they report instead of pointing at
mutable orders, so a list of events never changes after it is returned and a replay
of the same commands yields equal events.
"""

from typing import Any, ClassVar

from matcher.core.types import (
    CancelReason,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)


class _Event:
    """Equality, repr and a dict view from the field list, like a dataclass.

    Written out by hand rather than with @dataclass: compiled by mypyc, a plain
    __init__ is several times faster to call than a dataclass-generated one.
    """

    FIELDS: ClassVar[tuple[str, ...]] = ()
    __slots__ = FIELDS

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(self.FIELDS, self.values(), strict=True))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Event)
        return self.values() == other.values()

    def __hash__(self) -> int:
        return hash(self.values())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"{type(self).__name__}({args})"


class OrderAccepted(_Event):
    """A new order entered the engine; its state follows in an OrderUpdated."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "order_id",
        "account",
        "symbol",
        "side",
        "order_type",
        "time_in_force",
        "price",
        "quantity",
        "post_only",
        "client_order_id",
        "timestamp",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        order_id: str,
        account: str,
        symbol: str,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        price: int | None,
        quantity: int,
        post_only: bool,
        client_order_id: str | None,
        timestamp: int,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.price = price
        self.quantity = quantity
        self.post_only = post_only
        self.client_order_id = client_order_id
        self.timestamp = timestamp


class OrderRejected(_Event):
    """The command changed nothing. `command` is "place", "modify" or "cancel"."""

    FIELDS: ClassVar[tuple[str, ...]] = ("order_id", "account", "command", "reason", "timestamp")
    __slots__ = FIELDS

    def __init__(
        self, order_id: str, account: str, command: str, reason: RejectReason, timestamp: int
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.command = command
        self.reason = reason
        self.timestamp = timestamp


class OrderModified(_Event):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "order_id",
        "price",
        "quantity",
        "lost_priority",
        "timestamp",
    )
    __slots__ = FIELDS

    def __init__(
        self, order_id: str, price: int | None, quantity: int, lost_priority: bool, timestamp: int
    ) -> None:
        self.order_id = order_id
        self.price = price
        self.quantity = quantity
        self.lost_priority = lost_priority
        self.timestamp = timestamp


class TradeExecuted(_Event):
    """One fill, always at the resting (maker) order's price."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "sequence",
        "trade_id",
        "symbol",
        "price",
        "quantity",
        "buy_order_id",
        "sell_order_id",
        "maker_order_id",
        "taker_order_id",
        "aggressor_side",
        "timestamp",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        sequence: int,
        trade_id: str,
        symbol: str,
        price: int,
        quantity: int,
        buy_order_id: str,
        sell_order_id: str,
        maker_order_id: str,
        taker_order_id: str,
        aggressor_side: Side,
        timestamp: int,
    ) -> None:
        self.sequence = sequence
        self.trade_id = trade_id
        self.symbol = symbol
        self.price = price
        self.quantity = quantity
        self.buy_order_id = buy_order_id
        self.sell_order_id = sell_order_id
        self.maker_order_id = maker_order_id
        self.taker_order_id = taker_order_id
        self.aggressor_side = aggressor_side
        self.timestamp = timestamp


class OrderUpdated(_Event):
    """An order's state after the command; one per order the command touched.
    traded_quantity + remaining_quantity + cancelled_quantity == quantity always.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (
        "order_id",
        "status",
        "price",
        "quantity",
        "traded_quantity",
        "remaining_quantity",
        "cancelled_quantity",
        "traded_notional",
        "cancel_reason",
        "timestamp",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        order_id: str,
        status: OrderStatus,
        price: int | None,
        quantity: int,
        traded_quantity: int,
        remaining_quantity: int,
        cancelled_quantity: int,
        traded_notional: int,
        cancel_reason: CancelReason | None,
        timestamp: int,
    ) -> None:
        self.order_id = order_id
        self.status = status
        self.price = price
        self.quantity = quantity
        self.traded_quantity = traded_quantity
        self.remaining_quantity = remaining_quantity
        self.cancelled_quantity = cancelled_quantity
        self.traded_notional = traded_notional
        self.cancel_reason = cancel_reason
        self.timestamp = timestamp


Event = OrderAccepted | OrderRejected | OrderModified | TradeExecuted | OrderUpdated
