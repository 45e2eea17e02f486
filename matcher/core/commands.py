"""One class per command the engine accepts (exchange-core style).

Prices are integer ticks of the order's symbol; the boundary (lib.prices) turns
decimal prices into ticks and refuses off-tick ones, so the core never sees a float.

Dataclasses for equality, hashing, repr and `dataclasses.replace`, but with an
`__init__` written out by hand: compiled by mypyc it is several times cheaper to call than
the one a frozen dataclass generates (which sets each field through object.__setattr__),
and the service builds one command per queued message. Commands are immutable by
convention: nothing assigns to a command after building it (`replace` makes a new one).
"""

from dataclasses import dataclass

from matcher.core.types import OrderType, Side, TimeInForce


@dataclass(slots=True, init=False, unsafe_hash=True)
class PlaceOrder:
    order_id: str
    account: str
    symbol: str
    side: Side
    quantity: int
    price: int | None
    order_type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    client_order_id: str | None

    def __init__(
        self,
        order_id: str,
        account: str,
        symbol: str,
        side: Side,
        quantity: int,
        price: int | None = None,
        order_type: OrderType = OrderType.LIMIT,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        client_order_id: str | None = None,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.post_only = post_only
        self.client_order_id = client_order_id


@dataclass(slots=True, init=False, unsafe_hash=True)
class ModifyOrder:
    """`quantity` is the new total quantity, the traded part included."""

    order_id: str
    account: str
    price: int | None
    quantity: int | None

    def __init__(
        self,
        order_id: str,
        account: str,
        price: int | None = None,
        quantity: int | None = None,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.price = price
        self.quantity = quantity


@dataclass(slots=True, init=False, unsafe_hash=True)
class CancelOrder:
    order_id: str
    account: str

    def __init__(self, order_id: str, account: str) -> None:
        self.order_id = order_id
        self.account = account


Command = PlaceOrder | ModifyOrder | CancelOrder
