"""Post-only: rests as a maker or is cancelled; never takes liquidity."""

from __future__ import annotations

import pytest

from matcher.core import (
    CancelReason,
    OrderAccepted,
    OrderStatus,
    OrderUpdated,
    RejectReason,
    Side,
    TimeInForce,
)
from tests.core.helpers import (
    Driver,
    Step,
    buy,
    last_update,
    limit,
    modify,
    rejection,
    run_steps,
    sell,
    state_of,
    trade_tuples,
)

CANCELLED = OrderStatus.CANCELLED
WOULD_CROSS = CancelReason.POST_ONLY_WOULD_CROSS


def test_post_only_rests_when_not_crossing_and_then_makes() -> None:
    """Guards against post-only orders refused outright or unable to be hit later."""
    run_steps(
        [
            Step(sell("s1", 5, 101), asks=[(101, 5)]),
            Step(
                buy("b1", 5, 100, post_only=True),
                bids=[(100, 5)],
                asks=[(101, 5)],
                status=OrderStatus.OPEN,
            ),
            Step(
                sell("s2", 3, 100), trades=[(100, 3, "b1", "s2")], bids=[(100, 2)], asks=[(101, 5)]
            ),
        ]
    )


@pytest.mark.parametrize("ask_price", [100, 99])
def test_post_only_buy_crossing_is_cancelled_without_trading(ask_price: int) -> None:
    """Touching (equal price) counts as crossing.

    Guards against a `<` instead of `<=` letting a post-only buy at the ask take it.
    """
    driver = Driver()
    driver.do(sell("s1", 5, ask_price))
    before = state_of(driver.engine)
    events = driver.do(buy("b1", 5, 100, post_only=True))
    assert trade_tuples(events) == []
    own = last_update(events, "b1")
    assert (own.status, own.cancel_reason, own.cancelled_quantity) == (CANCELLED, WOULD_CROSS, 5)
    assert state_of(driver.engine) == before


def test_post_only_sell_crossing_is_cancelled() -> None:
    """Guards against the sell-side cross test being mirrored wrongly."""
    run_steps(
        [
            Step(buy("b1", 5, 100), bids=[(100, 5)]),
            Step(
                sell("s1", 5, 100, post_only=True),
                bids=[(100, 5)],
                status=CANCELLED,
                reason=WOULD_CROSS,
            ),
            Step(
                sell("s2", 5, 101, post_only=True),
                bids=[(100, 5)],
                asks=[(101, 5)],
                status=OrderStatus.OPEN,
            ),
        ]
    )


def test_post_only_crossing_own_order_is_still_cancelled() -> None:
    """The rule is about crossing the best opposite price, whoever owns it.

    Guards against self-trade prevention cancelling the resting order on behalf of
    a post-only order that should simply have been refused.
    """
    driver = Driver()
    driver.do(sell("s1", 5, 100, account="alice"))
    events = driver.do(buy("b1", 5, 100, account="alice", post_only=True))
    assert last_update(events, "b1").cancel_reason is WOULD_CROSS
    assert [type(e) for e in events] == [OrderAccepted, OrderUpdated]
    assert driver.depth() == ([], [(100, 5)])


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_post_only_with_ioc_or_fok_rejected(tif: TimeInForce) -> None:
    """Guards against accepting a contradictory post-only IOC/FOK."""
    driver = Driver()
    events = driver.do(limit("o1", Side.BUY, 5, 100, tif=tif, post_only=True))
    assert rejection(events) is RejectReason.INVALID_POST_ONLY
    assert driver.engine.order("o1") is None


def test_modify_post_only_into_crossing_price_rejected_and_unchanged() -> None:
    """Guards against the modify path skipping the post-only check (it would trade)."""
    driver = Driver()
    driver.do(sell("s1", 5, 105))
    driver.do(buy("b1", 5, 100, post_only=True))
    driver.do(buy("b2", 5, 100))
    before = state_of(driver.engine)
    for price in (105, 106):
        events = driver.do(modify("b1", price=price))
        assert rejection(events) is RejectReason.POST_ONLY_WOULD_CROSS
        assert state_of(driver.engine) == before
    # b1 kept its time priority ahead of b2
    events = driver.do(sell("s2", 5, 100))
    assert trade_tuples(events) == [(100, 5, "b1", "s2")]


def test_modify_post_only_to_non_crossing_price_accepted() -> None:
    """Guards against every price change of a post-only order being refused."""
    run_steps(
        [
            Step(sell("s1", 5, 105), asks=[(105, 5)]),
            Step(buy("b1", 5, 100, post_only=True), bids=[(100, 5)], asks=[(105, 5)]),
            Step(modify("b1", price=104), bids=[(104, 5)], asks=[(105, 5)]),
            Step(modify("b1", quantity=9), bids=[(104, 9)], asks=[(105, 5)]),
        ]
    )


def test_modify_post_only_crossing_price_rejected_even_with_ending_quantity() -> None:
    """Documented precedence: post_only_would_cross is checked before anything happens.

    Guards against a rejected modify half-applying (ending the order anyway).
    """
    driver = Driver()
    driver.do(sell("s1", 5, 105))
    driver.do(buy("b1", 5, 100, post_only=True))
    driver.do(sell("s2", 2, 100))
    before = state_of(driver.engine)
    events = driver.do(modify("b1", price=105, quantity=1))
    assert rejection(events) is RejectReason.POST_ONLY_WOULD_CROSS
    assert state_of(driver.engine) == before
