"""The pure matching core: no I/O, no wall clock, no randomness.

Callers pass time in (integer nanoseconds) and get back an ordered list of events.
`make core` compiles these modules with mypyc into C extensions beside the sources;
without them the same code runs as plain Python, several times slower.
"""

from matcher.core._compiled import check_compiled_fresh

check_compiled_fresh()

from matcher.core.book import Instrument, OrderBook
from matcher.core.commands import CancelOrder, Command, ModifyOrder, PlaceOrder
from matcher.core.engine import MatchingEngine, RestingOrder
from matcher.core.events import (
    Event,
    OrderAccepted,
    OrderModified,
    OrderRejected,
    OrderUpdated,
    TradeExecuted,
)
from matcher.core.order import Level, Order
from matcher.core.types import (
    CancelReason,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)

__all__ = [
    "CancelOrder",
    "CancelReason",
    "Command",
    "Event",
    "Instrument",
    "Level",
    "MatchingEngine",
    "ModifyOrder",
    "Order",
    "OrderAccepted",
    "OrderBook",
    "OrderModified",
    "OrderRejected",
    "OrderStatus",
    "OrderType",
    "OrderUpdated",
    "PlaceOrder",
    "RejectReason",
    "RestingOrder",
    "Side",
    "TimeInForce",
    "TradeExecuted",
]
