"""Immediate-or-cancel: trade what crosses now, cancel the rest (`ioc_remainder`)."""

from __future__ import annotations

from matcher.core import CancelReason, OrderStatus, RejectReason
from tests.core.helpers import (
    Driver,
    Step,
    buy,
    cancel,
    ioc_buy,
    ioc_sell,
    last_update,
    rejection,
    run_steps,
    sell,
    trade_tuples,
)

CANCELLED = OrderStatus.CANCELLED
IOC_REMAINDER = CancelReason.IOC_REMAINDER


def test_ioc_full_fill_is_filled_not_cancelled() -> None:
    """Guards against an exactly filled IOC reported as cancelled with 0 remainder."""
    run_steps(
        [
            Step(sell("s1", 5, 100), asks=[(100, 5)]),
            Step(ioc_buy("b1", 5, 100), trades=[(100, 5, "b1", "s1")], status=OrderStatus.FILLED),
        ]
    )


def test_ioc_partial_fill_cancels_remainder_with_quantities() -> None:
    """Guards against an IOC remainder resting, or cancelled_quantity miscounted."""
    driver = Driver()
    driver.do(buy("b1", 3, 100))
    events = driver.do(ioc_sell("s1", 10, 99))
    assert trade_tuples(events) == [(100, 3, "b1", "s1")]
    own = last_update(events, "s1")
    assert (own.status, own.cancel_reason) == (CANCELLED, IOC_REMAINDER)
    assert (own.traded_quantity, own.remaining_quantity, own.cancelled_quantity) == (3, 0, 7)
    assert driver.depth() == ([], [])


def test_ioc_not_crossing_trades_nothing_and_leaves_book() -> None:
    """Guards against an IOC resting when nothing crosses."""
    run_steps(
        [
            Step(sell("s1", 5, 101), asks=[(101, 5)]),
            Step(ioc_buy("b1", 5, 100), asks=[(101, 5)], status=CANCELLED, reason=IOC_REMAINDER),
        ]
    )


def test_ioc_sweeps_levels_and_stops_at_its_limit() -> None:
    """Guards against an IOC walking past its limit because it will not rest anyway."""
    run_steps(
        [
            Step(buy("b1", 2, 102), bids=[(102, 2)]),
            Step(buy("b2", 2, 101), bids=[(102, 2), (101, 2)]),
            Step(buy("b3", 2, 100), bids=[(102, 2), (101, 2), (100, 2)]),
            Step(
                ioc_sell("s1", 10, 101),
                trades=[(102, 2, "b1", "s1"), (101, 2, "b2", "s1")],
                bids=[(100, 2)],
                status=CANCELLED,
                reason=IOC_REMAINDER,
            ),
        ]
    )


def test_ioc_id_is_reusable_and_not_cancellable_after_it_ends() -> None:
    """Guards against an ended IOC staying in the live index (blocks id reuse)."""
    driver = Driver()
    driver.do(ioc_buy("x", 5, 100))
    assert rejection(driver.do(cancel("x"))) is RejectReason.ORDER_NOT_LIVE
    assert rejection(driver.do(buy("x", 5, 100))) is None
    assert driver.depth() == ([(100, 5)], [])
