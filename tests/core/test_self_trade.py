"""Self-trade prevention: the RESTING order of the aggressor's account is cancelled."""

from __future__ import annotations

import pytest

from matcher.core import CancelReason, OrderStatus, OrderUpdated, Side, TradeExecuted
from tests.core.helpers import (
    Driver,
    buy,
    last_update,
    limit,
    market_buy,
    sell,
    trade_tuples,
)

SELF_TRADE = CancelReason.SELF_TRADE
CANCELLED = OrderStatus.CANCELLED


def _opposite(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


@pytest.mark.parametrize("aggressor_side", [Side.BUY, Side.SELL])
def test_resting_own_order_cancelled_and_matching_continues(aggressor_side: Side) -> None:
    """Guards against cancelling the aggressor instead, or stopping at the own order."""
    maker_side = _opposite(aggressor_side)
    driver = Driver()
    driver.do(limit("mine", maker_side, 5, 100, account="alice"))
    driver.do(limit("theirs", maker_side, 5, 100, account="bob"))
    events = driver.do(limit("agg", aggressor_side, 5, 100, account="alice"))
    mine = last_update(events, "mine")
    assert (mine.status, mine.cancel_reason, mine.cancelled_quantity) == (CANCELLED, SELF_TRADE, 5)
    trade = next(e for e in events if isinstance(e, TradeExecuted))
    assert {trade.buy_order_id, trade.sell_order_id} == {"agg", "theirs"}
    assert trade.buy_order_id == ("agg" if aggressor_side is Side.BUY else "theirs")
    assert last_update(events, "agg").status is OrderStatus.FILLED
    assert driver.depth() == ([], [])


def test_self_trade_cancel_is_inline_in_event_order() -> None:
    """Guards against the self-trade cancel being reported after later fills."""
    driver = Driver()
    driver.do(sell("t1", 1, 100, account="bob"))
    driver.do(sell("mine", 1, 100, account="alice"))
    driver.do(sell("t2", 1, 101, account="bob"))
    events = driver.do(buy("agg", 2, 101, account="alice"))
    shape = [
        (type(e).__name__, e.order_id if isinstance(e, OrderUpdated) else None) for e in events[1:]
    ]
    assert shape == [
        ("TradeExecuted", None),
        ("OrderUpdated", "t1"),
        ("OrderUpdated", "mine"),
        ("TradeExecuted", None),
        ("OrderUpdated", "t2"),
        ("OrderUpdated", "agg"),
    ]


def test_own_order_continues_to_next_level() -> None:
    """Guards against matching stopping when the own order emptied the best level."""
    driver = Driver()
    driver.do(sell("mine", 5, 100, account="alice"))
    driver.do(sell("theirs", 5, 101, account="bob"))
    events = driver.do(buy("agg", 3, 101, account="alice"))
    assert trade_tuples(events) == [(101, 3, "agg", "theirs")]
    assert driver.depth() == ([], [(101, 2)])


def test_own_order_beyond_limit_untouched() -> None:
    """Guards against STP cancelling own orders the aggressor could never reach."""
    driver = Driver()
    driver.do(sell("theirs", 5, 100, account="bob"))
    driver.do(sell("mine", 5, 102, account="alice"))
    events = driver.do(buy("agg", 10, 101, account="alice"))
    assert trade_tuples(events) == [(100, 5, "agg", "theirs")]
    assert [u.order_id for u in events if isinstance(u, OrderUpdated)] == ["theirs", "agg"]
    assert driver.depth() == ([(101, 5)], [(102, 5)])


def test_own_order_after_aggressor_is_done_untouched() -> None:
    """Guards against STP scanning ahead and cancelling own orders not yet reached."""
    driver = Driver()
    driver.do(sell("theirs", 5, 100, account="bob"))
    driver.do(sell("mine", 5, 100, account="alice"))
    events = driver.do(buy("agg", 5, 100, account="alice"))
    assert trade_tuples(events) == [(100, 5, "agg", "theirs")]
    assert driver.engine.order("mine") is not None
    assert driver.depth() == ([], [(100, 5)])


def test_partially_filled_own_order_keeps_traded_part_when_cancelled() -> None:
    """Guards against a self-trade cancel counting the traded part as cancelled."""
    driver = Driver()
    driver.do(sell("mine", 10, 100, account="alice"))
    driver.do(buy("b1", 4, 100, account="bob"))
    events = driver.do(buy("agg", 1, 100, account="alice"))
    mine = last_update(events, "mine")
    assert (mine.traded_quantity, mine.cancelled_quantity, mine.remaining_quantity) == (4, 6, 0)
    own = last_update(events, "agg")
    assert (own.status, own.remaining_quantity) == (OrderStatus.OPEN, 1)
    assert driver.depth() == ([(100, 1)], [])


def test_only_own_liquidity_then_rests_uncrossed() -> None:
    """Guards against a crossed book when every crossing order was one's own."""
    driver = Driver()
    driver.do(sell("m1", 5, 99, account="alice"))
    driver.do(sell("m2", 5, 100, account="alice"))
    events = driver.do(buy("agg", 5, 100, account="alice"))
    assert trade_tuples(events) == []
    assert {u.order_id for u in events if isinstance(u, OrderUpdated)} == {"m1", "m2", "agg"}
    assert driver.depth() == ([(100, 5)], [])


def test_market_order_self_trade() -> None:
    """Guards against market orders skipping STP."""
    driver = Driver()
    driver.do(sell("mine", 5, 100, account="alice"))
    events = driver.do(market_buy("m1", 5, account="alice"))
    assert last_update(events, "mine").cancel_reason is SELF_TRADE
    own = last_update(events, "m1")
    assert (own.cancel_reason, own.traded_quantity) == (CancelReason.NO_LIQUIDITY, 0)
    assert driver.depth() == ([], [])


def test_same_account_same_side_never_interacts() -> None:
    """Guards against STP firing between two orders on the same side."""
    driver = Driver()
    driver.do(buy("b1", 5, 100, account="alice"))
    events = driver.do(buy("b2", 5, 101, account="alice"))
    assert [u.order_id for u in events if isinstance(u, OrderUpdated)] == ["b2"]
    assert driver.depth() == ([(101, 5), (100, 5)], [])
