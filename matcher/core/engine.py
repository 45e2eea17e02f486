"""MatchingEngine: the books of one shard behind a single command interface.

It validates every command (a refusal is an OrderRejected event, never an
exception), routes it to the symbol's book, and owns the shard-wide sequence from
which trade ids and time priority derive, so the same commands replayed into a
fresh or restored engine yield equal events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from matcher.core.book import Instrument, OrderBook, OrderIndex, Sequencer
from matcher.core.commands import CancelOrder, Command, ModifyOrder, PlaceOrder
from matcher.core.events import Event, OrderAccepted, OrderRejected
from matcher.core.order import Order
from matcher.core.types import (
    CancelReason,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)

DEFAULT_ENDED_MEMORY = 100_000
MARKET: Final = OrderType.MARKET
GTC: Final = TimeInForce.GTC


@dataclass(slots=True, frozen=True)
class RestingOrder:
    """A resting order as it stands: what `open_orders` yields and `restore` takes."""

    order_id: str
    account: str
    symbol: str
    side: Side
    price: int
    quantity: int
    traded_quantity: int
    traded_notional: int
    priority: int
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    client_order_id: str | None = None

    @property
    def remaining_quantity(self) -> int:
        return self.quantity - self.traded_quantity

    @property
    def status(self) -> OrderStatus:
        return OrderStatus.PARTIALLY_FILLED if self.traded_quantity else OrderStatus.OPEN


class MatchingEngine:
    def __init__(
        self,
        instruments: Iterable[Instrument],
        trade_id_prefix: str = "",
        ended_memory: int = DEFAULT_ENDED_MEMORY,
    ) -> None:
        self._index = OrderIndex(ended_memory)
        self._seq = Sequencer()
        self._books = {
            i.symbol: OrderBook(i, self._index, self._seq, trade_id_prefix) for i in instruments
        }

    # ----------------------------------------------------------------- queries

    @property
    def sequence(self) -> int:
        return self._seq.value

    @property
    def symbols(self) -> list[str]:
        return list(self._books)

    def book(self, symbol: str) -> OrderBook:
        return self._books[symbol]

    def order(self, order_id: str) -> RestingOrder | None:
        """A live order's current state, or None."""
        order = self._index.live.get(order_id)
        return None if order is None else _snapshot(order)

    def open_orders(self) -> list[RestingOrder]:
        """Every resting order of every book, in time priority."""
        orders = [o for book in self._books.values() for o in book.resting_orders()]
        orders.sort(key=lambda o: o.priority)
        return [_snapshot(o) for o in orders]

    # ---------------------------------------------------------------- commands

    def execute(self, command: Command, timestamp: int) -> list[Event]:
        if type(command) is PlaceOrder:
            return self.place(command, timestamp)
        if type(command) is CancelOrder:
            return self.cancel(command, timestamp)
        assert type(command) is ModifyOrder
        return self.modify(command, timestamp)

    def place(self, cmd: PlaceOrder, timestamp: int) -> list[Event]:
        book = self._books.get(cmd.symbol)
        reason = _place_rejection(cmd, book, self._index)
        if reason is not None:
            return [OrderRejected(cmd.order_id, cmd.account, "place", reason, timestamp)]
        assert book is not None
        order = Order(
            cmd.order_id,
            cmd.account,
            cmd.symbol,
            cmd.side,
            cmd.price,
            cmd.quantity,
            cmd.order_type,
            cmd.time_in_force,
            cmd.post_only,
            cmd.client_order_id,
        )
        events: list[Event] = [
            OrderAccepted(
                cmd.order_id,
                cmd.account,
                cmd.symbol,
                cmd.side,
                cmd.order_type,
                cmd.time_in_force,
                cmd.price,
                cmd.quantity,
                cmd.post_only,
                cmd.client_order_id,
                timestamp,
            )
        ]
        book.place(order, timestamp, events)
        return events

    def modify(self, cmd: ModifyOrder, timestamp: int) -> list[Event]:
        order, reason = self._owned_live_order(cmd.order_id, cmd.account)
        if order is None or reason is not None:
            return self._reject(cmd, "modify", reason, timestamp)
        book = self._books[order.symbol]
        price = order.price if cmd.price is None else cmd.price
        quantity = order.quantity if cmd.quantity is None else cmd.quantity
        assert price is not None  # resting orders are limit orders
        reason = _modify_rejection(cmd, book.instrument)
        crossing = order.post_only and price != order.price
        if reason is None and crossing and book.would_cross(order.side, price):
            reason = RejectReason.POST_ONLY_WOULD_CROSS
        if reason is not None:
            return self._reject(cmd, "modify", reason, timestamp)
        events: list[Event] = []
        book.modify(order, price, quantity, timestamp, events)
        return events

    def cancel(self, cmd: CancelOrder, timestamp: int) -> list[Event]:
        order, reason = self._owned_live_order(cmd.order_id, cmd.account)
        if order is None or reason is not None:
            return self._reject(cmd, "cancel", reason, timestamp)
        events: list[Event] = []
        self._books[order.symbol].cancel(order, CancelReason.USER, timestamp, events)
        return events

    # ----------------------------------------------------------------- restore

    def restore(
        self,
        open_orders: Iterable[RestingOrder],
        sequence: int,
        ended_orders: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Rebuild the books from resting orders; the engine must be empty.

        `sequence` is the engine sequence to continue from: with the same open orders
        and sequence the engine behaves exactly as the one they came from.
        """
        if self._index.live or self._seq.value:
            raise RuntimeError("restore needs an empty engine")
        for order_id, account in ended_orders:
            self._index.end(order_id, account)
        for r in sorted(open_orders, key=lambda r: r.priority):
            order = Order(
                r.order_id,
                r.account,
                r.symbol,
                r.side,
                r.price,
                r.quantity,
                OrderType.LIMIT,
                r.time_in_force,
                r.post_only,
                r.client_order_id,
            )
            order.traded = r.traded_quantity
            order.remaining = r.quantity - r.traded_quantity
            order.notional = r.traded_notional
            order.status = r.status
            self._seq.value = r.priority - 1  # _join stamps priority = value + 1
            self._books[r.symbol].restore(order)
            self._index.live[r.order_id] = order
        self._seq.value = sequence

    # ---------------------------------------------------------------- internals

    def _owned_live_order(
        self, order_id: str, account: str
    ) -> tuple[Order | None, RejectReason | None]:
        order = self._index.live.get(order_id)
        if order is None:
            owned_and_ended = self._index.ended_owner(order_id) == account
            reason = RejectReason.ORDER_NOT_LIVE if owned_and_ended else RejectReason.UNKNOWN_ORDER
            return None, reason
        if order.account != account:
            # Another account's order: indistinguishable from one that does not exist.
            return None, RejectReason.UNKNOWN_ORDER
        return order, None

    @staticmethod
    def _reject(
        cmd: ModifyOrder | CancelOrder, command: str, reason: RejectReason | None, ts: int
    ) -> list[Event]:
        assert reason is not None
        return [OrderRejected(cmd.order_id, cmd.account, command, reason, ts)]


def _place_rejection(
    cmd: PlaceOrder, book: OrderBook | None, index: OrderIndex
) -> RejectReason | None:
    if book is None:
        return RejectReason.UNKNOWN_SYMBOL
    if cmd.order_id in index.live:
        return RejectReason.DUPLICATE_ORDER_ID
    instrument = book.instrument
    if not 0 < cmd.quantity <= instrument.max_quantity:
        return RejectReason.INVALID_QUANTITY
    if cmd.order_type is MARKET:
        if cmd.price is not None:
            return RejectReason.MARKET_ORDER_WITH_PRICE
        if cmd.post_only:
            return RejectReason.INVALID_POST_ONLY
        return None
    if cmd.price is None:
        return RejectReason.LIMIT_ORDER_WITHOUT_PRICE
    reason = _price_rejection(cmd.price, instrument)
    if reason is None and cmd.post_only and cmd.time_in_force is not GTC:
        return RejectReason.INVALID_POST_ONLY
    return reason


def _modify_rejection(cmd: ModifyOrder, instrument: Instrument) -> RejectReason | None:
    if cmd.price is None and cmd.quantity is None:
        return RejectReason.NOTHING_TO_MODIFY
    if cmd.price is not None:
        reason = _price_rejection(cmd.price, instrument)
        if reason is not None:
            return reason
    if cmd.quantity is not None and not 0 < cmd.quantity <= instrument.max_quantity:
        return RejectReason.INVALID_QUANTITY
    return None


def _price_rejection(price: int, instrument: Instrument) -> RejectReason | None:
    if price <= 0:
        return RejectReason.INVALID_PRICE
    if price > instrument.max_price:
        return RejectReason.PRICE_ABOVE_MAXIMUM
    return None


def _snapshot(order: Order) -> RestingOrder:
    assert order.price is not None
    return RestingOrder(
        order.order_id,
        order.account,
        order.symbol,
        order.side,
        order.price,
        order.quantity,
        order.traded,
        order.notional,
        order.priority,
        order.time_in_force,
        order.post_only,
        order.client_order_id,
    )
