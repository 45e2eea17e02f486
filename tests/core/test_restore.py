"""restore(open_orders, sequence): a rebuilt engine behaves exactly like the original."""

from __future__ import annotations

import pytest

from matcher.core import Command, Event, MatchingEngine, RejectReason, Side
from tests.core.helpers import (
    OTHER_SYMBOL,
    SYMBOL,
    Driver,
    buy,
    cancel,
    ioc_sell,
    market_sell,
    modify,
    new_engine,
    rejection,
    sell,
    trade_tuples,
    trades_of,
)

SYMBOLS = (SYMBOL, OTHER_SYMBOL)

HISTORY: list[Command] = [
    sell("s1", 10, 101),
    sell("s2", 10, 101),
    sell("s3", 5, 102, symbol=OTHER_SYMBOL),
    buy("b1", 4, 101),  # s1 partially filled: 6 left, keeps its place ahead of s2
    buy("b2", 8, 99),
    buy("b3", 3, 99),
    modify("b2", quantity=6),  # keeps priority ahead of b3
    buy("b4", 2, 100, symbol=OTHER_SYMBOL),
    sell("s4", 1, 99),  # b2 partially filled
    cancel("s2"),
    sell("s5", 7, 101),
]

FURTHER: list[Command] = [
    buy("c1", 8, 101),  # s1 (6, partially filled) before s5
    ioc_sell("c2", 10, 99),  # b2 (partially filled) before b3
    buy("c3", 5, 102, symbol=OTHER_SYMBOL),
    modify("s5", price=103),
    buy("c4", 1, 100),
    sell("c5", 1, 100),
    market_sell("c6", 3, account="zed"),
    cancel("c4"),
    sell("s2", 3, 105),  # an ended id reused
]


def _run(driver: Driver, commands: list[Command]) -> list[Event]:
    return driver.do_all(commands)


def _restored_copy(original: Driver) -> Driver:
    copy = Driver(engine=new_engine(SYMBOLS), clock=original.clock, owners=dict(original.owners))
    copy.engine.restore(original.engine.open_orders(), original.engine.sequence)
    return copy


def test_restore_then_same_commands_give_equal_events_and_depth() -> None:
    """Guards against restore losing priorities, traded parts or the sequence."""
    original = Driver(engine=new_engine(SYMBOLS))
    _run(original, HISTORY)
    copy = _restored_copy(original)
    assert copy.engine.open_orders() == original.engine.open_orders()
    assert copy.engine.sequence == original.engine.sequence
    for symbol in SYMBOLS:
        assert copy.depth(symbol) == original.depth(symbol)
    for command in FURTHER:
        assert copy.do(command) == original.do(command), command
        for symbol in SYMBOLS:
            assert copy.depth(symbol) == original.depth(symbol)
    assert copy.engine.open_orders() == original.engine.open_orders()


def test_restore_keeps_traded_quantities_and_priority_order() -> None:
    """Guards against restored partially filled orders re-queued behind later ones."""
    original = Driver(engine=new_engine(SYMBOLS))
    _run(original, HISTORY)
    copy = _restored_copy(original)
    s1 = copy.engine.order("s1")
    assert s1 is not None and (s1.quantity, s1.traded_quantity, s1.traded_notional) == (
        10,
        4,
        404,
    )
    events = copy.do(buy("c1", 8, 101))
    assert trade_tuples(events) == [(101, 6, "c1", "s1"), (101, 2, "c1", "s5")]
    maker = [e for e in events if getattr(e, "order_id", None) == "s1"][-1]
    assert getattr(maker, "traded_notional", None) == 1_010
    events = copy.do(sell("c2", 5, 99))
    assert trade_tuples(events) == [(99, 5, "b2", "c2")]


def test_restored_sequence_continues() -> None:
    """Guards against a restored engine re-issuing trade ids already used."""
    original = Driver(engine=new_engine(SYMBOLS))
    _run(original, HISTORY)
    copy = _restored_copy(original)
    events = copy.do(buy("c1", 1, 101))
    assert [t.sequence for t in trades_of(events)] == [original.engine.sequence + 1]


def test_restore_of_empty_engine_state() -> None:
    """Guards against restore refusing (or mangling) an empty book."""
    engine = new_engine(SYMBOLS)
    engine.restore([], 42)
    assert engine.sequence == 42 and engine.open_orders() == []
    events = engine.execute(buy("b1", 1, 100), 1)
    assert rejection(events) is None
    order = engine.order("b1")
    assert order is not None and order.priority == 43


def test_restore_into_non_empty_engine_raises() -> None:
    """Guards against a restore merging into live state (double orders)."""
    engine = new_engine(SYMBOLS)
    engine.execute(buy("b1", 1, 100), 1)
    with pytest.raises(RuntimeError):
        engine.restore([], 5)


def test_restore_with_ended_ids_answers_order_not_live() -> None:
    """Guards against late cancels after a restart being told unknown_order."""
    engine: MatchingEngine = new_engine(SYMBOLS)
    engine.restore([], 10, ended_orders=[("gone", "owner")])
    events = engine.execute(cancel("gone", account="owner"), 1)
    assert rejection(events) is RejectReason.ORDER_NOT_LIVE
    events = engine.execute(cancel("gone", account="someone-else"), 2)
    assert rejection(events) is RejectReason.UNKNOWN_ORDER


def test_restore_accepts_orders_in_any_order() -> None:
    """The documented input is the open orders; restore sorts them by priority itself.

    Guards against priorities being taken from list position instead.
    """
    original = Driver(engine=new_engine(SYMBOLS))
    _run(original, HISTORY)
    engine = new_engine(SYMBOLS)
    engine.restore(list(reversed(original.engine.open_orders())), original.engine.sequence)
    assert engine.open_orders() == original.engine.open_orders()
    events = engine.execute(buy("c1", 8, 101), 10_000)
    assert trade_tuples(events) == [(101, 6, "c1", "s1"), (101, 2, "c1", "s5")]
    assert engine.order("s5") is not None and engine.order("s5").side is Side.SELL  # type: ignore[union-attr]
