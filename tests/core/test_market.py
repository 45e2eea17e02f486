"""Market orders: no price, no limit, never rest; leftover cancelled `no_liquidity`."""

from __future__ import annotations

import pytest

from matcher.core import CancelReason, OrderStatus, RejectReason, Side, TimeInForce
from tests.core.helpers import (
    MAX_PRICE,
    Driver,
    Step,
    buy,
    cancel,
    last_update,
    market,
    market_buy,
    market_sell,
    rejection,
    run_steps,
    sell,
    state_of,
    trade_tuples,
)

CANCELLED = OrderStatus.CANCELLED
NO_LIQUIDITY = CancelReason.NO_LIQUIDITY


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_market_on_empty_book_is_cancelled_no_liquidity(side: Side) -> None:
    """Guards against a market order with nothing to hit resting (at price None)."""
    driver = Driver()
    events = driver.do(market("m1", side, 10))
    own = last_update(events, "m1")
    assert (own.status, own.cancel_reason) == (CANCELLED, NO_LIQUIDITY)
    assert (own.traded_quantity, own.cancelled_quantity, own.price) == (0, 10, None)
    assert trade_tuples(events) == []
    assert driver.depth() == ([], [])
    assert driver.engine.open_orders() == []


def test_market_buy_partial_fill_cancels_the_rest() -> None:
    """Guards against a partial market fill resting its remainder."""
    run_steps(
        [
            Step(sell("s1", 5, 100), asks=[(100, 5)]),
            Step(
                market_buy("m1", 8),
                trades=[(100, 5, "m1", "s1")],
                status=CANCELLED,
                reason=NO_LIQUIDITY,
            ),
        ]
    )


def test_market_sell_partial_fill_quantities() -> None:
    """Guards against cancelled_quantity counting the traded part as well."""
    driver = Driver()
    driver.do(buy("b1", 3, 90))
    events = driver.do(market_sell("m1", 10))
    own = last_update(events, "m1")
    assert (own.traded_quantity, own.remaining_quantity, own.cancelled_quantity) == (3, 0, 7)
    assert own.traded_notional == 270


def test_market_walks_every_level_without_limit() -> None:
    """Guards against a market order limited by some default price band."""
    run_steps(
        [
            Step(sell("s1", 1, 1), asks=[(1, 1)]),
            Step(sell("s2", 1, 5_000), asks=[(1, 1), (5_000, 1)]),
            Step(sell("s3", 1, MAX_PRICE), asks=[(1, 1), (5_000, 1), (MAX_PRICE, 1)]),
            Step(
                market_buy("m1", 3),
                trades=[(1, 1, "m1", "s1"), (5_000, 1, "m1", "s2"), (MAX_PRICE, 1, "m1", "s3")],
                status=OrderStatus.FILLED,
            ),
            Step(buy("b1", 1, MAX_PRICE), bids=[(MAX_PRICE, 1)]),
            Step(buy("b2", 1, 1), bids=[(MAX_PRICE, 1), (1, 1)]),
            Step(
                market_sell("m2", 2),
                trades=[(MAX_PRICE, 1, "b1", "m2"), (1, 1, "b2", "m2")],
                status=OrderStatus.FILLED,
            ),
        ]
    )


def test_market_order_never_rests_and_cannot_be_cancelled() -> None:
    """Guards against a market remainder stored in the live index."""
    driver = Driver()
    driver.do(market_buy("m1", 5))
    assert driver.engine.order("m1") is None
    assert rejection(driver.do(cancel("m1"))) is RejectReason.ORDER_NOT_LIVE


def test_market_order_with_price_rejected() -> None:
    """Guards against a priced market order silently becoming a limit order."""
    driver = Driver()
    driver.do(sell("s1", 5, 100))
    before = state_of(driver.engine)
    events = driver.do(market("m1", Side.BUY, 5, price=100))
    assert rejection(events) is RejectReason.MARKET_ORDER_WITH_PRICE
    assert state_of(driver.engine) == before


def test_post_only_market_rejected() -> None:
    """Guards against a post-only market order (a contradiction) being accepted."""
    driver = Driver()
    events = driver.do(market("m1", Side.SELL, 5, post_only=True))
    assert rejection(events) is RejectReason.INVALID_POST_ONLY


def test_market_ioc_remainder_is_no_liquidity() -> None:
    """A market IOC's leftover is cancelled like any market leftover (doc: market rule).

    Guards against the remainder resting because the TIF check ran first.
    """
    driver = Driver()
    driver.do(sell("s1", 2, 100))
    events = driver.do(market("m1", Side.BUY, 5, tif=TimeInForce.IOC))
    own = last_update(events, "m1")
    assert (own.status, own.cancel_reason, own.traded_quantity) == (CANCELLED, NO_LIQUIDITY, 2)
    assert driver.depth() == ([], [])


def test_market_fok_unfillable_trades_nothing() -> None:
    """Guards against a market FOK partially filling a thin book."""
    driver = Driver()
    driver.do(sell("s1", 2, 100))
    before = state_of(driver.engine)
    events = driver.do(market("m1", Side.BUY, 5, tif=TimeInForce.FOK))
    assert trade_tuples(events) == []
    own = last_update(events, "m1")
    assert (own.status, own.cancel_reason) == (CANCELLED, CancelReason.FOK_UNFILLABLE)
    assert state_of(driver.engine) == before


def test_market_fok_fillable_fills_completely() -> None:
    """Guards against a market FOK ignoring levels beyond the best."""
    driver = Driver()
    driver.do(sell("s1", 2, 100))
    driver.do(sell("s2", 3, 200))
    events = driver.do(market("m1", Side.BUY, 5, tif=TimeInForce.FOK))
    assert trade_tuples(events) == [(100, 2, "m1", "s1"), (200, 3, "m1", "s2")]
    assert last_update(events, "m1").status is OrderStatus.FILLED
