"""Random command streams: MatchingEngine against the simple ReferenceEngine.

After EVERY command: identical events, identical full depth of every symbol, identical
open orders (priorities, traded parts) and sequence, a book that is never crossed,
the documented event grammar, and for every order ever seen traded + remaining +
cancelled == quantity with its traded quantity/notional equal to the sum of its fills.

Reproducible: derandomize=True (a seed derived from the test), no example database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.core import (
    CancelOrder,
    Command,
    Event,
    Instrument,
    MatchingEngine,
    ModifyOrder,
    OrderAccepted,
    OrderStatus,
    OrderType,
    OrderUpdated,
    PlaceOrder,
    RestingOrder,
    Side,
    TimeInForce,
    TradeExecuted,
)
from tests.core.helpers import ALL_LEVELS, OWNER, TRADE_ID_PREFIX, check_events
from tests.core.reference_book import ReferenceEngine

SYMBOLS = ("AAA", "BBB")
MAX_PRICE = 105
MAX_QUANTITY = 40
INSTRUMENTS = [Instrument(s, MAX_PRICE, MAX_QUANTITY) for s in SYMBOLS]
ACCOUNTS = ("ann", "bob", "cyd")
ORDER_IDS = tuple(f"o{i}" for i in range(24))

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------ strategies
# Weights are explicit (`sampled_from` over repeated tags): hypothesis' `one_of` does
# not pick its branches uniformly, and mostly-invalid streams never reach a trade.

LIVE_REF = "@"  # order id "@k": at run time, the k-th open order (by priority)


@st.composite
def prices(draw: st.DrawFn) -> int:
    if draw(st.sampled_from(["valid"] * 9 + ["edge"])) == "valid":
        return draw(st.integers(95, MAX_PRICE))
    return draw(st.sampled_from([0, -1, MAX_PRICE + 1]))


@st.composite
def quantities(draw: st.DrawFn) -> int:
    if draw(st.sampled_from(["valid"] * 9 + ["edge"])) == "valid":
        return draw(st.integers(1, 12))
    return draw(st.sampled_from([0, -2, MAX_QUANTITY, MAX_QUANTITY + 1]))


@st.composite
def place_commands(draw: st.DrawFn) -> PlaceOrder:
    order_type = draw(st.sampled_from([OrderType.LIMIT] * 8 + [OrderType.MARKET]))
    missing_or_extra_price = draw(st.sampled_from([False] * 15 + [True]))
    has_price = (order_type is OrderType.LIMIT) != missing_or_extra_price
    return PlaceOrder(
        order_id=draw(st.sampled_from(ORDER_IDS)),
        account=draw(st.sampled_from(ACCOUNTS)),
        symbol=draw(st.sampled_from([*SYMBOLS * 6, "ZZZ"])),
        side=draw(st.sampled_from(Side)),
        quantity=draw(quantities()),
        price=draw(prices()) if has_price else None,
        order_type=order_type,
        time_in_force=draw(st.sampled_from([TimeInForce.GTC] * 6 + list(TimeInForce))),
        post_only=draw(st.sampled_from([False] * 5 + [True])),
        client_order_id=draw(st.sampled_from([None, None, "c1"])),
    )


@st.composite
def targets(draw: st.DrawFn) -> tuple[str, str]:
    """(order id, account) of a modify/cancel: mostly a live order and its owner."""
    if draw(st.sampled_from(["live"] * 4 + ["any id"])) == "live":
        order_id = f"{LIVE_REF}{draw(st.integers(0, 7))}"
    else:
        order_id = draw(st.sampled_from(ORDER_IDS))
    account = draw(st.sampled_from([OWNER] * 6 + list(ACCOUNTS)))
    return order_id, account


@st.composite
def modify_commands(draw: st.DrawFn) -> ModifyOrder:
    order_id, account = draw(targets())
    what = draw(st.sampled_from(["price", "quantity", "both"] * 3 + ["none"]))
    price = draw(prices()) if what in ("price", "both") else None
    quantity = draw(quantities()) if what in ("quantity", "both") else None
    return ModifyOrder(order_id, account, price, quantity)


@st.composite
def cancel_commands(draw: st.DrawFn) -> CancelOrder:
    order_id, account = draw(targets())
    return CancelOrder(order_id, account)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    kind = draw(st.sampled_from(["place"] * 5 + ["modify"] * 2 + ["cancel"]))
    if kind == "place":
        return draw(place_commands())
    if kind == "modify":
        return draw(modify_commands())
    return draw(cancel_commands())


streams = st.lists(commands(), min_size=40, max_size=200)


# ---------------------------------------------------------------- the checks


@dataclass
class OrderLedger:
    """Per order id (since its latest acceptance): fills seen in TradeExecuted events."""

    traded: dict[str, int] = field(default_factory=dict)
    notional: dict[str, int] = field(default_factory=dict)

    def record(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, OrderAccepted):
                self.traded[event.order_id] = 0
                self.notional[event.order_id] = 0
            elif isinstance(event, TradeExecuted):
                for order_id in (event.buy_order_id, event.sell_order_id):
                    self.traded[order_id] += event.quantity
                    self.notional[order_id] += event.quantity * event.price
            elif isinstance(event, OrderUpdated):
                total = event.traded_quantity + event.remaining_quantity + event.cancelled_quantity
                assert total == event.quantity, event
                assert event.traded_quantity == self.traded[event.order_id], event
                assert event.traded_notional == self.notional[event.order_id], event


def resolve(command: Command, owners: dict[str, str], open_orders: list[RestingOrder]) -> Command:
    """Turn a live-order reference and the OWNER placeholder into concrete values."""
    if isinstance(command, PlaceOrder):
        return command
    order_id = command.order_id
    if order_id.startswith(LIVE_REF):
        k = int(order_id[len(LIVE_REF) :])
        order_id = open_orders[k % len(open_orders)].order_id if open_orders else ORDER_IDS[0]
    account = owners.get(order_id, ACCOUNTS[0]) if command.account == OWNER else command.account
    return replace(command, order_id=order_id, account=account)


def remember_owner(command: Command, events: list[Event], owners: dict[str, str]) -> None:
    if isinstance(command, PlaceOrder) and isinstance(events[0], OrderAccepted):
        owners[command.order_id] = command.account


def run_side_by_side(stream: list[Command]) -> None:
    engine = MatchingEngine(INSTRUMENTS, TRADE_ID_PREFIX)
    reference = ReferenceEngine(INSTRUMENTS, TRADE_ID_PREFIX)
    owners: dict[str, str] = {}
    ledger = OrderLedger()
    for timestamp, raw in enumerate(stream, start=1):
        open_before = engine.open_orders()
        command = resolve(raw, owners, open_before)
        resting_before = {o.order_id: o for o in open_before}
        sequence_before = engine.sequence
        events = engine.execute(command, timestamp)
        expected = reference.execute(command, timestamp)
        assert events == expected, f"command #{timestamp}: {command!r}"
        check_events(command, events, resting_before, sequence_before, timestamp)
        ledger.record(events)
        remember_owner(command, events, owners)
        assert engine.sequence == reference.sequence
        assert engine.open_orders() == reference.open_orders()
        for symbol in SYMBOLS:
            book = engine.book(symbol)
            assert book.depth(ALL_LEVELS) == reference.depth(symbol, ALL_LEVELS), symbol
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is None or ask is None or bid < ask, f"{symbol} crossed"
        for order in engine.open_orders():
            live = engine.order(order.order_id)
            assert live == order
            assert 0 <= order.traded_quantity < order.quantity
            assert order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


@PROPERTY_SETTINGS
@given(streams)
def test_engine_matches_reference(stream: list[Command]) -> None:
    """Guards against any divergence from the documented rules on random streams."""
    run_side_by_side(stream)


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(streams)
def test_same_stream_twice_gives_equal_events(stream: list[Command]) -> None:
    """Determinism: no hidden clock, randomness or hash-order dependence."""
    results = []
    for _ in range(2):
        engine = MatchingEngine(INSTRUMENTS, TRADE_ID_PREFIX)
        owners: dict[str, str] = {}
        events: list[Event] = []
        for timestamp, raw in enumerate(stream, start=1):
            command = resolve(raw, owners, engine.open_orders())
            answer = engine.execute(command, timestamp)
            remember_owner(command, answer, owners)
            events += answer
        results.append((events, engine.open_orders(), engine.sequence))
    assert results[0] == results[1]


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(streams, st.data())
def test_restore_midway_then_same_events(stream: list[Command], data: st.DataObject) -> None:
    """Restore at a random point (open orders, sequence, ended ids) and continue both.

    Guards against restore changing priorities, traded parts, the sequence, or the
    answers to commands about ended orders.
    """
    cut = data.draw(st.integers(0, len(stream)), label="cut")
    original = MatchingEngine(INSTRUMENTS, TRADE_ID_PREFIX)
    owners: dict[str, str] = {}
    ended: list[tuple[str, str]] = []
    for timestamp, raw in enumerate(stream[:cut], start=1):
        command = resolve(raw, owners, original.open_orders())
        events = original.execute(command, timestamp)
        remember_owner(command, events, owners)
        ended += [
            (e.order_id, owners[e.order_id])
            for e in events
            if isinstance(e, OrderUpdated) and not e.status.alive
        ]
    restored = MatchingEngine(INSTRUMENTS, TRADE_ID_PREFIX)
    restored.restore(original.open_orders(), original.sequence, ended)
    assert restored.open_orders() == original.open_orders()
    for timestamp, raw in enumerate(stream[cut:], start=cut + 1):
        command = resolve(raw, owners, original.open_orders())
        events = original.execute(command, timestamp)
        assert restored.execute(command, timestamp) == events, command
        remember_owner(command, events, owners)
        for symbol in SYMBOLS:
            assert restored.book(symbol).depth(ALL_LEVELS) == original.book(symbol).depth(
                ALL_LEVELS
            )
    assert restored.open_orders() == original.open_orders()
    assert restored.sequence == original.sequence
