"""OrderBook: one symbol's resting orders and the matching rules.

Price-time priority; a trade is always at the maker's price; an aggressor walks the
opposite side best level first and each level oldest order first. Every method
appends what it did to the caller's event list and never raises for bad input: the
engine validates commands before they reach a book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from matcher.core.book_side import BookSide
from matcher.core.events import Event, OrderModified, TradeExecuted
from matcher.core.order import Level, Order
from matcher.core.types import CancelReason, OrderStatus, OrderType, Side, TimeInForce

# Module constants rather than enum attribute look-ups: compiled by mypyc, a Final
# name is a C static while `OrderStatus.FILLED` is a Python attribute look-up.
BUY: Final = Side.BUY
OPEN: Final = OrderStatus.OPEN
PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
FILLED: Final = OrderStatus.FILLED
CANCELLED: Final = OrderStatus.CANCELLED
MARKET: Final = OrderType.MARKET
GTC: Final = TimeInForce.GTC
FOK: Final = TimeInForce.FOK


@dataclass(slots=True, frozen=True)
class Instrument:
    """What the core needs to know about a symbol; prices are in ticks."""

    symbol: str
    max_price: int
    max_quantity: int = 1_000_000_000


class Sequencer:
    """The engine-wide counter behind trade ids and time priority."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value


class OrderIndex:
    """Live orders by id, plus a bounded memory of ids that ended and their owners.

    The memory lets a late cancel by the owner be told "no longer live" rather than
    "unknown", while anyone else still gets "unknown" (an id must not leak that it
    exists). It keeps two generations of at most `ended_capacity` ids each and drops
    the older one when the newer fills up: O(1), plain dicts, bounded memory.
    """

    __slots__ = ("_ended", "_ended_before", "ended_capacity", "live")

    def __init__(self, ended_capacity: int) -> None:
        self.live: dict[str, Order] = {}
        self._ended: dict[str, str] = {}
        self._ended_before: dict[str, str] = {}
        self.ended_capacity = ended_capacity

    def end(self, order_id: str, account: str) -> None:
        self.live.pop(order_id, None)
        ended = self._ended
        ended[order_id] = account
        if len(ended) >= self.ended_capacity:
            self._ended_before = ended
            self._ended = {}

    def ended_owner(self, order_id: str) -> str | None:
        owner = self._ended.get(order_id)
        return owner if owner is not None else self._ended_before.get(order_id)


class OrderBook:
    __slots__ = ("_index", "_seq", "_trade_id_prefix", "asks", "bids", "instrument", "symbol")

    def __init__(
        self,
        instrument: Instrument,
        index: OrderIndex,
        sequencer: Sequencer,
        trade_id_prefix: str = "",
    ) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.bids = BookSide(best_is_highest=True)
        self.asks = BookSide(best_is_highest=False)
        self._index = index
        self._seq = sequencer
        self._trade_id_prefix = trade_id_prefix

    # ----------------------------------------------------------------- queries

    def best_bid(self) -> int | None:
        level = self.bids.best()
        return None if level is None else level.price

    def best_ask(self) -> int | None:
        level = self.asks.best()
        return None if level is None else level.price

    def depth(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top-n (price, total quantity) levels: bids highest first, asks lowest first."""
        return _top(self.bids, n), _top(self.asks, n)

    def resting_orders(self) -> list[Order]:
        """Every resting order, both sides, in time priority."""
        out = [o for side in (self.bids, self.asks) for lvl in side for o in lvl.orders()]
        out.sort(key=lambda o: o.priority)
        return out

    # ---------------------------------------------------------------- commands

    def place(self, order: Order, timestamp: int, events: list[Event]) -> None:
        """Match a validated new order, then rest or end what is left of it."""
        buy = order.side is BUY
        if order.order_type is MARKET:
            limit = self.instrument.max_price if buy else 1
        else:
            limit = order.price  # type: ignore[assignment]  # validated: limit has a price
        opposite = self.asks if buy else self.bids
        if order.post_only and _crosses(opposite, limit, buy):
            self._end(order, CancelReason.POST_ONLY_WOULD_CROSS, timestamp, events)
            return
        if order.time_in_force is FOK and not self._can_fill(order, limit):
            self._end(order, CancelReason.FOK_UNFILLABLE, timestamp, events)
            return
        self._match(order, opposite, limit, buy, timestamp, events)
        self._rest_or_end(order, timestamp, events)

    def modify(
        self,
        order: Order,
        price: int,
        quantity: int,
        timestamp: int,
        events: list[Event],
    ) -> None:
        """Apply a validated modify of a resting order (quantity: new total)."""
        level = order.level
        assert level is not None
        if quantity <= order.traded:
            # The order can never trade again: it ends filled at what it traded (FIX
            # semantics of a replace down to the cumulative quantity).
            self._unlink(order, level)
            order.quantity = order.traded
            order.remaining = 0
            order.status = FILLED
            self._index.end(order.order_id, order.account)
            events.append(
                OrderModified(order.order_id, order.price, order.quantity, True, timestamp)
            )
            events.append(order.updated(timestamp))
            return
        keeps_priority = price == order.price and quantity <= order.quantity
        events.append(OrderModified(order.order_id, price, quantity, not keeps_priority, timestamp))
        if keeps_priority:
            new_remaining = quantity - order.traded
            level.volume += new_remaining - order.remaining
            order.remaining = new_remaining
            order.quantity = quantity
            events.append(order.updated(timestamp))
            return
        self._unlink(order, level)
        order.price = price
        order.quantity = quantity
        order.remaining = quantity - order.traded
        buy = order.side is BUY
        self._match(order, self.asks if buy else self.bids, price, buy, timestamp, events)
        self._rest_or_end(order, timestamp, events)

    def cancel(
        self, order: Order, reason: CancelReason, timestamp: int, events: list[Event]
    ) -> None:
        level = order.level
        assert level is not None
        self._unlink(order, level)
        self._end(order, reason, timestamp, events)

    def restore(self, order: Order) -> None:
        """Put back a resting order; callers restore in ascending priority."""
        self._join(order)

    # ---------------------------------------------------------------- internals

    def would_cross(self, side: Side, price: int) -> bool:
        buy = side is BUY
        return _crosses(self.asks if buy else self.bids, price, buy)

    def _match(
        self,
        taker: Order,
        opposite: BookSide,
        limit: int,
        buy: bool,
        timestamp: int,
        events: list[Event],
    ) -> None:
        # The hot loop: locals instead of attribute look-ups, one event object per
        # fill and one per touched maker.
        append = events.append
        seq = self._seq
        index = self._index
        prefix = self._trade_id_prefix
        symbol = self.symbol
        account = taker.account
        taker_id = taker.order_id
        side = taker.side
        remaining = taker.remaining
        traded = 0
        notional = 0
        while remaining:
            level = opposite.best()
            if level is None:
                break
            price = level.price
            if price > limit if buy else price < limit:
                break
            maker = level.head
            while maker is not None and remaining:
                following = maker.next
                if maker.account == account:
                    level.remove(maker)
                    self._end(maker, CancelReason.SELF_TRADE, timestamp, events)
                    maker = following
                    continue
                have = maker.remaining
                fill = remaining if remaining < have else have
                remaining -= fill
                traded += fill
                notional += fill * price
                maker.remaining = have - fill
                maker.traded += fill
                maker.notional += fill * price
                level.volume -= fill
                seq.value += 1
                sequence = seq.value
                maker_id = maker.order_id
                append(
                    TradeExecuted(
                        sequence,
                        prefix + str(sequence),
                        symbol,
                        price,
                        fill,
                        taker_id if buy else maker_id,
                        maker_id if buy else taker_id,
                        maker_id,
                        taker_id,
                        side,
                        timestamp,
                    )
                )
                if have == fill:
                    maker.status = FILLED
                    level.remove(maker)
                    index.end(maker_id, maker.account)
                else:
                    maker.status = PARTIALLY_FILLED
                append(maker.updated(timestamp))
                maker = following
            if not level.count:
                opposite.level_emptied()
        taker.remaining = remaining
        taker.traded += traded
        taker.notional += notional

    def _can_fill(self, order: Order, limit: int) -> bool:
        """Fill-or-kill check: enough quantity from other accounts within the limit."""
        buy = order.side is BUY
        need = order.remaining
        account = order.account
        for level in self.asks if buy else self.bids:
            if level.price > limit if buy else level.price < limit:
                return False
            maker = level.head
            while maker is not None:
                if maker.account != account:
                    need -= maker.remaining
                    if need <= 0:
                        return True
                maker = maker.next
        return False

    def _rest_or_end(self, order: Order, timestamp: int, events: list[Event]) -> None:
        if not order.remaining:
            order.status = FILLED
            self._index.end(order.order_id, order.account)
            events.append(order.updated(timestamp))
        elif order.order_type is MARKET:
            self._end(order, CancelReason.NO_LIQUIDITY, timestamp, events)
        elif order.time_in_force is not GTC:
            self._end(order, CancelReason.IOC_REMAINDER, timestamp, events)
        else:
            order.status = PARTIALLY_FILLED if order.traded else OPEN
            self._index.live[order.order_id] = order
            self._join(order)
            events.append(order.updated(timestamp))

    def _join(self, order: Order) -> None:
        seq = self._seq
        seq.value += 1
        order.priority = seq.value
        side = self.bids if order.side is BUY else self.asks
        level = side.level_for(order.price)  # type: ignore[arg-type]  # resting => limit
        level.append(order)
        if level.count == 1:
            side.live_levels += 1

    def _unlink(self, order: Order, level: Level) -> None:
        level.remove(order)
        if not level.count:
            (self.bids if order.side is BUY else self.asks).level_emptied()

    def _end(self, order: Order, reason: CancelReason, timestamp: int, events: list[Event]) -> None:
        """Cancel what is left of an order that is no longer (or never was) resting."""
        order.remaining = 0  # what was left is now `cancelled`
        order.status = CANCELLED
        order.cancel_reason = reason
        self._index.end(order.order_id, order.account)
        events.append(order.updated(timestamp))


def _crosses(opposite: BookSide, limit: int, buy: bool) -> bool:
    level = opposite.best()
    if level is None:
        return False
    return level.price <= limit if buy else level.price >= limit


def _top(side: BookSide, n: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if n <= 0:
        return out
    for level in side:
        out.append((level.price, level.volume))
        if len(out) == n:
            break
    return out
