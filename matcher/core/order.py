"""Order and Level: the mutable records inside a book.

Orders at one price form an intrusive doubly linked list, so a cancel in the middle
of a deep queue is O(1) and FIFO order is kept without scanning.
"""

from __future__ import annotations

from matcher.core.events import OrderUpdated
from matcher.core.types import CancelReason, OrderStatus, OrderType, Side, TimeInForce


class Order:
    __slots__ = (
        "account",
        "cancel_reason",
        "client_order_id",
        "level",
        "next",
        "notional",
        "order_id",
        "order_type",
        "post_only",
        "prev",
        "price",
        "priority",
        "quantity",
        "remaining",
        "side",
        "status",
        "symbol",
        "time_in_force",
        "traded",
    )

    def __init__(
        self,
        order_id: str,
        account: str,
        symbol: str,
        side: Side,
        price: int | None,
        quantity: int,
        order_type: OrderType = OrderType.LIMIT,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        client_order_id: str | None = None,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.symbol = symbol
        self.side = side
        self.price = price
        self.quantity = quantity
        self.remaining = quantity
        self.traded = 0
        self.notional = 0
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.post_only = post_only
        self.client_order_id = client_order_id
        self.status = OrderStatus.OPEN
        self.cancel_reason: CancelReason | None = None
        self.priority = 0  # engine sequence number stamped when it joins a level
        self.level: Level | None = None
        self.prev: Order | None = None
        self.next: Order | None = None

    @property
    def cancelled(self) -> int:
        # Derived, not stored (8 bytes an order, 8 MB a million resting): quantity is
        # always traded + remaining + cancelled (OrderUpdated), and nothing else sets it.
        return self.quantity - self.traded - self.remaining

    def updated(self, timestamp: int) -> OrderUpdated:
        return OrderUpdated(
            self.order_id,
            self.status,
            self.price,
            self.quantity,
            self.traded,
            self.remaining,
            self.cancelled,
            self.notional,
            self.cancel_reason,
            timestamp,
        )

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id!r}, {self.side.label} {self.remaining}/{self.quantity}"
            f" @ {self.price}, {self.status})"
        )


class Level:
    """All resting orders at one price, oldest first."""

    __slots__ = ("count", "head", "price", "tail", "volume")

    def __init__(self, price: int) -> None:
        self.price = price
        self.volume = 0  # sum of the orders' remaining quantity
        self.count = 0
        self.head: Order | None = None
        self.tail: Order | None = None

    def append(self, order: Order) -> None:
        order.level = self
        order.next = None
        tail = self.tail
        order.prev = tail
        if tail is None:
            self.head = order
        else:
            tail.next = order
        self.tail = order
        self.volume += order.remaining
        self.count += 1

    def remove(self, order: Order) -> None:
        prev, nxt = order.prev, order.next
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        order.level = order.prev = order.next = None
        self.volume -= order.remaining
        self.count -= 1

    def orders(self) -> list[Order]:
        out = []
        order = self.head
        while order is not None:
            out.append(order)
            order = order.next
        return out
