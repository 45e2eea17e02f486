"""A deliberately simple reference engine, written from docs/MATCHING.md alone.

No heaps, no linked lists, no lazy deletion: every resting order of every symbol sits
in one plain list, and whenever the best maker is needed the list is filtered and
sorted again. Slow on purpose, so that it is obviously right; the property test runs
it side by side with `matcher.core.MatchingEngine` and compares the events (the same
event classes, so results compare with ==), the depth and the open orders.

Where the documentation is silent the reference makes the choice noted at the place
it is made ("doc silent: ...").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from matcher.core import (
    CancelOrder,
    CancelReason,
    Command,
    Event,
    Instrument,
    ModifyOrder,
    OrderAccepted,
    OrderModified,
    OrderRejected,
    OrderStatus,
    OrderType,
    OrderUpdated,
    PlaceOrder,
    RejectReason,
    RestingOrder,
    Side,
    TimeInForce,
    TradeExecuted,
)


@dataclass
class RefOrder:
    order_id: str
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    client_order_id: str | None
    price: int | None
    quantity: int
    traded: int = 0
    cancelled: int = 0
    notional: int = 0
    priority: int = 0
    status: OrderStatus = OrderStatus.OPEN
    cancel_reason: CancelReason | None = None

    @property
    def remaining(self) -> int:
        return self.quantity - self.traded - self.cancelled

    def update(self, timestamp: int) -> OrderUpdated:
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


def _price_ok(maker_price: int, taker_side: Side, limit: int | None) -> bool:
    """Whether a maker at `maker_price` is within the taker's limit (None: market)."""
    if limit is None:
        return True
    return maker_price <= limit if taker_side is Side.BUY else maker_price >= limit


class ReferenceEngine:
    """Same interface as the parts of MatchingEngine the tests use."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        trade_id_prefix: str = "",
        ended_memory: int = 100_000,
    ) -> None:
        self.instruments = {i.symbol: i for i in instruments}
        self.trade_id_prefix = trade_id_prefix
        self.ended_memory = ended_memory
        self.sequence = 0
        self.resting: list[RefOrder] = []
        self.ended: list[tuple[str, str]] = []  # (order id, account), most recent last

    # ------------------------------------------------------------- queries

    def _book(self, symbol: str, side: Side) -> list[RefOrder]:
        """Resting orders of one side of one symbol, best first, oldest first."""
        orders = [o for o in self.resting if o.symbol == symbol and o.side is side]
        if side is Side.BUY:
            orders.sort(key=lambda o: (-(o.price or 0), o.priority))
        else:
            orders.sort(key=lambda o: (o.price or 0, o.priority))
        return orders

    def depth(self, symbol: str, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        result: list[list[tuple[int, int]]] = []
        for side in (Side.BUY, Side.SELL):
            levels: list[tuple[int, int]] = []
            for order in self._book(symbol, side):
                assert order.price is not None
                if levels and levels[-1][0] == order.price:
                    levels[-1] = (order.price, levels[-1][1] + order.remaining)
                else:
                    levels.append((order.price, order.remaining))
            result.append(levels[: max(n, 0)])
        return result[0], result[1]

    def open_orders(self) -> list[RestingOrder]:
        out = []
        for o in sorted(self.resting, key=lambda o: o.priority):
            assert o.price is not None
            out.append(
                RestingOrder(
                    o.order_id,
                    o.account,
                    o.symbol,
                    o.side,
                    o.price,
                    o.quantity,
                    o.traded,
                    o.notional,
                    o.priority,
                    o.time_in_force,
                    o.post_only,
                    o.client_order_id,
                )
            )
        return out

    def _live(self, order_id: str) -> RefOrder | None:
        for order in self.resting:
            if order.order_id == order_id:
                return order
        return None

    # ------------------------------------------------------------ commands

    def execute(self, command: Command, timestamp: int) -> list[Event]:
        if isinstance(command, PlaceOrder):
            return self._place(command, timestamp)
        if isinstance(command, ModifyOrder):
            return self._modify(command, timestamp)
        return self._cancel(command, timestamp)

    def _place(self, cmd: PlaceOrder, ts: int) -> list[Event]:
        reason = self._place_rejection(cmd)
        if reason is not None:
            return [OrderRejected(cmd.order_id, cmd.account, "place", reason, ts)]
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
                ts,
            )
        ]
        order = RefOrder(
            cmd.order_id,
            cmd.account,
            cmd.symbol,
            cmd.side,
            cmd.order_type,
            cmd.time_in_force,
            cmd.post_only,
            cmd.client_order_id,
            cmd.price,
            cmd.quantity,
        )
        limit = None if cmd.order_type is OrderType.MARKET else cmd.price
        opposite = self._book(cmd.symbol, _other(cmd.side))
        if cmd.post_only and opposite and _price_ok(opposite[0].price or 0, cmd.side, limit):
            # doc silent: crossing an own-account order counts as crossing too.
            self._end(order, CancelReason.POST_ONLY_WOULD_CROSS, ts, events)
            return events
        if cmd.time_in_force is TimeInForce.FOK:
            available = sum(
                o.remaining
                for o in opposite
                if o.account != cmd.account and _price_ok(o.price or 0, cmd.side, limit)
            )
            if available < cmd.quantity:
                self._end(order, CancelReason.FOK_UNFILLABLE, ts, events)
                return events
        self._match(order, limit, ts, events)
        self._rest_or_end(order, ts, events)
        return events

    def _place_rejection(self, cmd: PlaceOrder) -> RejectReason | None:
        instrument = self.instruments.get(cmd.symbol)
        if instrument is None:
            return RejectReason.UNKNOWN_SYMBOL
        if self._live(cmd.order_id) is not None:
            return RejectReason.DUPLICATE_ORDER_ID
        if cmd.quantity <= 0 or cmd.quantity > instrument.max_quantity:
            return RejectReason.INVALID_QUANTITY
        if cmd.order_type is OrderType.MARKET:
            if cmd.price is not None:
                return RejectReason.MARKET_ORDER_WITH_PRICE
            if cmd.post_only:
                return RejectReason.INVALID_POST_ONLY
            return None
        if cmd.price is None:
            return RejectReason.LIMIT_ORDER_WITHOUT_PRICE
        if cmd.price <= 0:
            return RejectReason.INVALID_PRICE
        if cmd.price > instrument.max_price:
            return RejectReason.PRICE_ABOVE_MAXIMUM
        if cmd.post_only and cmd.time_in_force is not TimeInForce.GTC:
            return RejectReason.INVALID_POST_ONLY
        return None

    def _owned_live(
        self, order_id: str, account: str
    ) -> tuple[RefOrder | None, RejectReason | None]:
        order = self._live(order_id)
        if order is not None:
            if order.account != account:
                return None, RejectReason.UNKNOWN_ORDER
            return order, None
        owners = [owner for ended_id, owner in self.ended if ended_id == order_id]
        if not owners:
            return None, RejectReason.UNKNOWN_ORDER
        if owners[-1] != account:
            return None, RejectReason.UNKNOWN_ORDER
        return None, RejectReason.ORDER_NOT_LIVE

    def _modify(self, cmd: ModifyOrder, ts: int) -> list[Event]:
        order, reason = self._owned_live(cmd.order_id, cmd.account)
        if order is None:
            assert reason is not None
            return [OrderRejected(cmd.order_id, cmd.account, "modify", reason, ts)]
        instrument = self.instruments[order.symbol]
        if cmd.price is None and cmd.quantity is None:
            reason = RejectReason.NOTHING_TO_MODIFY
        elif cmd.price is not None and cmd.price <= 0:
            reason = RejectReason.INVALID_PRICE
        elif cmd.price is not None and cmd.price > instrument.max_price:
            reason = RejectReason.PRICE_ABOVE_MAXIMUM
        elif cmd.quantity is not None and not 0 < cmd.quantity <= instrument.max_quantity:
            reason = RejectReason.INVALID_QUANTITY
        new_price = order.price if cmd.price is None else cmd.price
        new_quantity = order.quantity if cmd.quantity is None else cmd.quantity
        assert new_price is not None
        if reason is None and order.post_only:
            opposite = self._book(order.symbol, _other(order.side))
            if opposite and _price_ok(opposite[0].price or 0, order.side, new_price):
                reason = RejectReason.POST_ONLY_WOULD_CROSS
        if reason is not None:
            return [OrderRejected(cmd.order_id, cmd.account, "modify", reason, ts)]

        events: list[Event] = []
        if new_quantity <= order.traded:
            # doc silent: the event reports the order's unchanged price, the traded
            # quantity as its new quantity, and lost_priority=True (it left the book).
            self.resting.remove(order)
            order.quantity = order.traded
            order.status = OrderStatus.FILLED
            self._remember_ended(order)
            events.append(OrderModified(order.order_id, order.price, order.quantity, True, ts))
            events.append(order.update(ts))
            return events
        keeps_priority = new_price == order.price and new_quantity <= order.quantity
        events.append(
            OrderModified(order.order_id, new_price, new_quantity, not keeps_priority, ts)
        )
        order.quantity = new_quantity
        if keeps_priority:
            events.append(order.update(ts))
            return events
        self.resting.remove(order)
        order.price = new_price
        self._match(order, new_price, ts, events)
        self._rest_or_end(order, ts, events)
        return events

    def _cancel(self, cmd: CancelOrder, ts: int) -> list[Event]:
        order, reason = self._owned_live(cmd.order_id, cmd.account)
        if order is None:
            assert reason is not None
            return [OrderRejected(cmd.order_id, cmd.account, "cancel", reason, ts)]
        self.resting.remove(order)
        events: list[Event] = []
        self._end(order, CancelReason.USER, ts, events)
        return events

    # ----------------------------------------------------------- matching

    def _match(self, taker: RefOrder, limit: int | None, ts: int, events: list[Event]) -> None:
        while taker.remaining > 0:
            makers = self._book(taker.symbol, _other(taker.side))
            if not makers:
                return
            maker = makers[0]
            assert maker.price is not None
            if not _price_ok(maker.price, taker.side, limit):
                return
            if maker.account == taker.account:
                self.resting.remove(maker)
                self._end(maker, CancelReason.SELF_TRADE, ts, events)
                continue
            quantity = min(taker.remaining, maker.remaining)
            self.sequence += 1
            buy, sell = (taker, maker) if taker.side is Side.BUY else (maker, taker)
            events.append(
                TradeExecuted(
                    self.sequence,
                    self.trade_id_prefix + str(self.sequence),
                    taker.symbol,
                    maker.price,
                    quantity,
                    buy.order_id,
                    sell.order_id,
                    maker.order_id,
                    taker.order_id,
                    taker.side,
                    ts,
                )
            )
            for party in (taker, maker):
                party.traded += quantity
                party.notional += quantity * maker.price
            if maker.remaining == 0:
                maker.status = OrderStatus.FILLED
                self.resting.remove(maker)
                self._remember_ended(maker)
            else:
                maker.status = OrderStatus.PARTIALLY_FILLED
            events.append(maker.update(ts))

    def _rest_or_end(self, order: RefOrder, ts: int, events: list[Event]) -> None:
        if order.remaining == 0:
            order.status = OrderStatus.FILLED
            self._remember_ended(order)
            events.append(order.update(ts))
        elif order.order_type is OrderType.MARKET:
            # doc silent for market + IOC/FOK: the market rule (no_liquidity) applies.
            self._end(order, CancelReason.NO_LIQUIDITY, ts, events)
        elif order.time_in_force is not TimeInForce.GTC:
            self._end(order, CancelReason.IOC_REMAINDER, ts, events)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED if order.traded else OrderStatus.OPEN
            self.sequence += 1
            order.priority = self.sequence
            self.resting.append(order)
            events.append(order.update(ts))

    def _end(self, order: RefOrder, reason: CancelReason, ts: int, events: list[Event]) -> None:
        order.cancelled += order.remaining
        order.status = OrderStatus.CANCELLED
        order.cancel_reason = reason
        self._remember_ended(order)
        events.append(order.update(ts))

    def _remember_ended(self, order: RefOrder) -> None:
        """Keep the last `ended_memory` ended ids (an id that ends again is recent again)."""
        self.ended = [e for e in self.ended if e[0] != order.order_id]
        self.ended.append((order.order_id, order.account))
        del self.ended[: max(0, len(self.ended) - self.ended_memory)]


def _other(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY
