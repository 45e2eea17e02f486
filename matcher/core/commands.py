"""One class per command the engine accepts (exchange-core style).

Prices are integer ticks of the order's symbol; the boundary (lib.prices) turns
decimal prices into ticks and refuses off-tick ones, so the core never sees a float.
"""

from dataclasses import dataclass

from matcher.core.types import OrderType, Side, TimeInForce


@dataclass(slots=True, frozen=True)
class PlaceOrder:
    order_id: str
    account: str
    symbol: str
    side: Side
    quantity: int
    price: int | None = None
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    client_order_id: str | None = None


@dataclass(slots=True, frozen=True)
class ModifyOrder:
    """`quantity` is the new total quantity, the traded part included."""

    order_id: str
    account: str
    price: int | None = None
    quantity: int | None = None


@dataclass(slots=True, frozen=True)
class CancelOrder:
    order_id: str
    account: str


Command = PlaceOrder | ModifyOrder | CancelOrder
