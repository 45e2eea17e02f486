"""Modify: price and/or new total quantity; priority rules; ending at the traded part."""

from __future__ import annotations

import pytest

from matcher.core import (
    CancelReason,
    OrderModified,
    OrderStatus,
    OrderUpdated,
    RejectReason,
    TradeExecuted,
)
from tests.core.helpers import (
    MAX_PRICE,
    MAX_QUANTITY,
    Driver,
    Step,
    buy,
    cancel,
    last_update,
    modify,
    rejection,
    run_steps,
    sell,
    state_of,
    trade_tuples,
)


def _priority(driver: Driver, order_id: str) -> int:
    order = driver.engine.order(order_id)
    assert order is not None
    return order.priority


def _queue_at_front() -> Driver:
    """Two asks at 100: s1 (older) then s2."""
    driver = Driver()
    driver.do(sell("s1", 10, 100))
    driver.do(sell("s2", 10, 100))
    return driver


def test_quantity_decrease_keeps_priority() -> None:
    """Guards against every modify re-queueing the order (FIX: a reduce keeps its place)."""
    driver = _queue_at_front()
    old = _priority(driver, "s1")
    events = driver.do(modify("s1", quantity=4))
    modified = events[0]
    assert isinstance(modified, OrderModified)
    assert (modified.price, modified.quantity, modified.lost_priority) == (100, 4, False)
    assert _priority(driver, "s1") == old
    assert driver.depth() == ([], [(100, 14)])
    assert trade_tuples(driver.do(buy("b1", 5, 100))) == [
        (100, 4, "b1", "s1"),
        (100, 1, "b1", "s2"),
    ]


def test_quantity_increase_loses_priority() -> None:
    """Guards against an increase jumping the queue with extra size."""
    driver = _queue_at_front()
    old = _priority(driver, "s1")
    events = driver.do(modify("s1", quantity=12))
    modified = events[0]
    assert isinstance(modified, OrderModified) and modified.lost_priority
    assert _priority(driver, "s1") > _priority(driver, "s2") > old
    assert driver.depth() == ([], [(100, 22)])
    assert trade_tuples(driver.do(buy("b1", 11, 100))) == [
        (100, 10, "b1", "s2"),
        (100, 1, "b1", "s1"),
    ]


def test_price_change_loses_priority_even_when_changed_back() -> None:
    """Guards against a price change that keeps the old priority number."""
    driver = _queue_at_front()
    driver.do(modify("s1", price=101))
    driver.do(modify("s1", price=100))
    assert _priority(driver, "s1") > _priority(driver, "s2")
    assert trade_tuples(driver.do(buy("b1", 10, 100))) == [(100, 10, "b1", "s2")]


def test_same_price_and_quantity_keeps_priority() -> None:
    """A modify that restates the order is neither a price change nor an increase.

    Guards against a no-op modify silently sending the order to the back.
    """
    driver = _queue_at_front()
    old = _priority(driver, "s1")
    events = driver.do(modify("s1", price=100, quantity=10))
    modified = events[0]
    assert isinstance(modified, OrderModified) and not modified.lost_priority
    assert _priority(driver, "s1") == old


def test_modify_events_in_documented_order() -> None:
    """OrderModified, then each fill (trade + maker update), then the order's update."""
    driver = Driver()
    driver.do(sell("s1", 2, 101))
    driver.do(buy("b1", 5, 100))
    events = driver.do(modify("b1", price=101))
    assert [type(e) for e in events] == [OrderModified, TradeExecuted, OrderUpdated, OrderUpdated]
    assert [getattr(e, "order_id", None) for e in events] == ["b1", None, "s1", "b1"]
    own = last_update(events, "b1")
    assert (own.status, own.price, own.remaining_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        101,
        3,
    )


def test_modify_crossing_fully_filled_does_not_rest() -> None:
    """Guards against a fully filled repriced order being re-inserted with 0 left."""
    run_steps(
        [
            Step(sell("s1", 5, 101), asks=[(101, 5)]),
            Step(buy("b1", 5, 100), bids=[(100, 5)], asks=[(101, 5)]),
            Step(modify("b1", price=102), trades=[(101, 5, "b1", "s1")], status=OrderStatus.FILLED),
            Step(cancel("b1"), reject=RejectReason.ORDER_NOT_LIVE),
        ]
    )


@pytest.mark.parametrize("new_quantity", [4, 3, 1])
def test_reduce_to_or_below_traded_ends_filled(new_quantity: int) -> None:
    """FIX semantics: replacing down to the cumulative quantity ends the order.

    Guards against a negative remaining, a zero-quantity order left on the book, or
    the order being reported cancelled instead of filled.
    """
    driver = Driver()
    driver.do(sell("s1", 10, 100))
    driver.do(buy("b1", 4, 100))
    events = driver.do(modify("s1", quantity=new_quantity))
    own = last_update(events, "s1")
    assert (own.status, own.quantity, own.traded_quantity) == (OrderStatus.FILLED, 4, 4)
    assert (own.remaining_quantity, own.cancelled_quantity, own.cancel_reason) == (0, 0, None)
    assert own.traded_notional == 400
    assert driver.depth() == ([], [])
    assert driver.engine.order("s1") is None
    assert rejection(driver.do(cancel("s1"))) is RejectReason.ORDER_NOT_LIVE


def test_reduce_below_traded_with_a_crossing_price_does_not_trade() -> None:
    """Guards against an ending modify still sweeping the book at its new price."""
    driver = Driver()
    driver.do(sell("s1", 10, 100))
    driver.do(buy("b1", 4, 100))
    driver.do(buy("b2", 5, 99))
    events = driver.do(modify("s1", price=99, quantity=4))
    assert trade_tuples(events) == []
    assert last_update(events, "s1").status is OrderStatus.FILLED
    assert driver.depth() == ([(99, 5)], [])


def test_nothing_to_modify() -> None:
    """Guards against an empty modify being treated as a (priority-losing) replace."""
    driver = _queue_at_front()
    before = state_of(driver.engine)
    assert rejection(driver.do(modify("s1"))) is RejectReason.NOTHING_TO_MODIFY
    assert state_of(driver.engine) == before


@pytest.mark.parametrize(
    ("price", "quantity", "reason"),
    [
        (0, None, RejectReason.INVALID_PRICE),
        (-5, None, RejectReason.INVALID_PRICE),
        (MAX_PRICE + 1, None, RejectReason.PRICE_ABOVE_MAXIMUM),
        (None, 0, RejectReason.INVALID_QUANTITY),
        (None, -3, RejectReason.INVALID_QUANTITY),
        (None, MAX_QUANTITY + 1, RejectReason.INVALID_QUANTITY),
        (0, 0, RejectReason.INVALID_PRICE),
        (MAX_PRICE + 1, -1, RejectReason.PRICE_ABOVE_MAXIMUM),
    ],
)
def test_invalid_modify_values_rejected(
    price: int | None, quantity: int | None, reason: RejectReason
) -> None:
    """Guards against bad values reaching the book (negative remaining, price 0 rest)."""
    driver = _queue_at_front()
    before = state_of(driver.engine)
    assert rejection(driver.do(modify("s1", price=price, quantity=quantity))) is reason
    assert state_of(driver.engine) == before


def test_modify_to_maximum_price_and_quantity_accepted() -> None:
    """Guards against off-by-one bounds refusing the largest allowed values."""
    driver = _queue_at_front()
    events = driver.do(modify("s1", price=MAX_PRICE, quantity=MAX_QUANTITY))
    assert rejection(events) is None
    assert driver.depth() == ([], [(100, 10), (MAX_PRICE, MAX_QUANTITY)])


def test_other_accounts_order_is_unknown() -> None:
    """Guards against an account modifying (or learning about) another's order."""
    driver = _queue_at_front()
    before = state_of(driver.engine)
    events = driver.do(modify("s1", price=101, account="mallory"))
    assert rejection(events) is RejectReason.UNKNOWN_ORDER
    assert state_of(driver.engine) == before


def test_unknown_id_is_unknown_order() -> None:
    """Guards against a KeyError escaping for an id that was never placed."""
    driver = Driver()
    assert rejection(driver.do(modify("nope", price=1, account="x"))) is RejectReason.UNKNOWN_ORDER


def test_modify_partially_filled_keeps_traded_and_status() -> None:
    """Guards against a modify resetting traded quantity or notional."""
    driver = Driver()
    driver.do(sell("s1", 10, 100))
    driver.do(buy("b1", 3, 100))
    events = driver.do(modify("s1", price=102, quantity=12))
    own = last_update(events, "s1")
    assert (own.status, own.quantity, own.traded_quantity, own.remaining_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        12,
        3,
        9,
    )
    assert own.traded_notional == 300
    assert driver.depth() == ([], [(102, 9)])


def test_modify_crossing_own_order_cancels_it_by_self_trade() -> None:
    """Guards against the modify path bypassing self-trade prevention."""
    driver = Driver()
    driver.do(sell("mine", 5, 101, account="alice"))
    driver.do(sell("theirs", 5, 102, account="bob"))
    driver.do(buy("b1", 5, 100, account="alice"))
    events = driver.do(modify("b1", price=102))
    assert trade_tuples(events) == [(102, 5, "b1", "theirs")]
    cancelled = last_update(events, "mine")
    assert (cancelled.status, cancelled.cancel_reason) == (
        OrderStatus.CANCELLED,
        CancelReason.SELF_TRADE,
    )
    assert driver.depth() == ([], [])


def test_price_change_joins_back_of_existing_level() -> None:
    """Guards against a repriced order inserted at the front of its new level."""
    driver = Driver()
    driver.do(sell("s1", 5, 101))
    driver.do(sell("s2", 5, 100))
    driver.do(modify("s2", price=101))
    assert driver.depth() == ([], [(101, 10)])
    assert trade_tuples(driver.do(buy("b1", 6, 101))) == [
        (101, 5, "b1", "s1"),
        (101, 1, "b1", "s2"),
    ]
