"""Fill-or-kill: all of it from other accounts within the limit, or nothing at all."""

from __future__ import annotations

from matcher.core import CancelReason, OrderStatus, RejectReason
from tests.core.helpers import (
    Driver,
    Step,
    buy,
    cancel,
    fok_buy,
    fok_sell,
    last_update,
    rejection,
    run_steps,
    sell,
    state_of,
    trade_tuples,
    updates_of,
)

CANCELLED = OrderStatus.CANCELLED
FILLED = OrderStatus.FILLED
UNFILLABLE = CancelReason.FOK_UNFILLABLE


def test_fok_exactly_fillable_across_levels_fills() -> None:
    """Guards against an off-by-one (need < vs <=) rejecting an exactly fillable FOK."""
    run_steps(
        [
            Step(sell("s1", 3, 100), asks=[(100, 3)]),
            Step(sell("s2", 4, 101), asks=[(100, 3), (101, 4)]),
            Step(sell("s3", 9, 102), asks=[(100, 3), (101, 4), (102, 9)]),
            Step(
                fok_buy("b1", 7, 101),
                trades=[(100, 3, "b1", "s1"), (101, 4, "b1", "s2")],
                asks=[(102, 9)],
                status=FILLED,
            ),
        ]
    )


def test_fok_one_short_trades_nothing() -> None:
    """Guards against a FOK that partially fills before discovering it cannot finish."""
    driver = Driver()
    driver.do(sell("s1", 3, 100))
    driver.do(sell("s2", 4, 101))
    before = state_of(driver.engine)
    events = driver.do(fok_buy("b1", 8, 101))
    assert trade_tuples(events) == []
    own = last_update(events, "b1")
    assert (own.status, own.cancel_reason, own.cancelled_quantity) == (CANCELLED, UNFILLABLE, 8)
    assert state_of(driver.engine) == before


def test_fok_limit_stops_it_although_quantity_exists_beyond() -> None:
    """Guards against the availability check ignoring the FOK's own limit price."""
    driver = Driver()
    driver.do(buy("b1", 5, 100))
    driver.do(buy("b2", 50, 98))
    before = state_of(driver.engine)
    events = driver.do(fok_sell("s1", 6, 99))
    assert trade_tuples(events) == []
    assert last_update(events, "s1").cancel_reason is UNFILLABLE
    assert state_of(driver.engine) == before


def test_fok_does_not_count_own_orders() -> None:
    """Own resting orders would be cancelled by self-trade prevention, not filled.

    Guards against counting them as available, which yields a FOK that is neither
    filled nor killed: it cancels the own orders and then comes up short.
    """
    driver = Driver()
    driver.do(sell("own", 10, 100, account="alice"))
    driver.do(sell("other", 4, 100, account="bob"))
    before = state_of(driver.engine)
    events = driver.do(fok_buy("b1", 5, 100, account="alice"))
    assert trade_tuples(events) == []
    assert updates_of(events, "own") == []
    assert last_update(events, "b1").cancel_reason is UNFILLABLE
    assert state_of(driver.engine) == before


def test_fok_fillable_from_others_cancels_own_orders_in_the_way() -> None:
    """Guards against the self-trade rule being skipped on the FOK path."""
    driver = Driver()
    driver.do(sell("own", 10, 100, account="alice"))
    driver.do(sell("other", 5, 101, account="bob"))
    events = driver.do(fok_buy("b1", 5, 101, account="alice"))
    assert trade_tuples(events) == [(101, 5, "b1", "other")]
    own_maker = last_update(events, "own")
    assert (own_maker.status, own_maker.cancel_reason) == (CANCELLED, CancelReason.SELF_TRADE)
    assert last_update(events, "b1").status is FILLED
    assert driver.depth() == ([], [])


def test_fok_sell_side_exact() -> None:
    """Guards against the FOK walk of the bid side using the ask-side comparison."""
    run_steps(
        [
            Step(buy("b1", 2, 101), bids=[(101, 2)]),
            Step(buy("b2", 2, 100), bids=[(101, 2), (100, 2)]),
            Step(
                fok_sell("s1", 5, 100),
                bids=[(101, 2), (100, 2)],
                status=CANCELLED,
                reason=UNFILLABLE,
            ),
            Step(
                fok_sell("s2", 4, 100),
                trades=[(101, 2, "b1", "s2"), (100, 2, "b2", "s2")],
                status=FILLED,
            ),
        ]
    )


def test_fok_never_rests() -> None:
    """Guards against a killed FOK left in the live index."""
    driver = Driver()
    driver.do(fok_buy("b1", 5, 100))
    assert driver.engine.order("b1") is None
    assert rejection(driver.do(cancel("b1"))) is RejectReason.ORDER_NOT_LIVE
