"""Limit orders (GTC): resting, crossing, price improvement, partial fills."""

from __future__ import annotations

from itertools import pairwise

import pytest

from matcher.core import (
    OrderAccepted,
    OrderStatus,
    OrderUpdated,
    PlaceOrder,
    Side,
    TradeExecuted,
)
from tests.core.helpers import (
    BUYER,
    SELLER,
    SYMBOL,
    Driver,
    Step,
    buy,
    last_update,
    limit,
    run_steps,
    sell,
    trade_tuples,
)


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_non_crossing_order_rests_open(side: Side) -> None:
    """Guards against an order on an empty book being dropped instead of resting."""
    driver = Driver()
    events = driver.do(limit("o1", side, 10, 100))
    assert [type(e) for e in events] == [OrderAccepted, OrderUpdated]
    update = last_update(events, "o1")
    assert (update.status, update.remaining_quantity, update.traded_quantity) == (
        OrderStatus.OPEN,
        10,
        0,
    )
    bids, asks = driver.depth()
    assert (bids, asks) == (([(100, 10)], []) if side is Side.BUY else ([], [(100, 10)]))
    resting = driver.engine.order("o1")
    assert resting is not None and resting.side is side and resting.price == 100


def test_buy_below_ask_and_sell_above_bid_do_not_trade() -> None:
    """Guards against a crossing test that trades at touching-but-not-crossing prices."""
    run_steps(
        [
            Step(buy("b1", 5, 99), bids=[(99, 5)]),
            Step(sell("s1", 5, 100), bids=[(99, 5)], asks=[(100, 5)]),
            Step(buy("b2", 5, 99), bids=[(99, 10)], asks=[(100, 5)]),
            Step(sell("s2", 5, 100), bids=[(99, 10)], asks=[(100, 10)]),
        ]
    )


def test_buy_aggressor_gets_price_improvement_at_the_makers_price() -> None:
    """Guards against trading at the aggressor's limit instead of the resting price."""
    driver = Driver()
    driver.do(sell("s1", 10, 100))
    events = driver.do(buy("b1", 10, 105))
    assert trade_tuples(events) == [(100, 10, "b1", "s1")]
    own = last_update(events, "b1")
    assert own.traded_notional == 1_000 and own.price == 105


def test_sell_aggressor_trades_at_the_bid_price() -> None:
    """Guards against the sell side using its own (lower) limit as the trade price."""
    driver = Driver()
    driver.do(buy("b1", 10, 100))
    events = driver.do(sell("s1", 4, 90))
    (trade,) = [e for e in events if isinstance(e, TradeExecuted)]
    assert (trade.price, trade.quantity) == (100, 4)
    assert (trade.buy_order_id, trade.sell_order_id) == ("b1", "s1")
    assert (trade.maker_order_id, trade.taker_order_id) == ("b1", "s1")
    assert trade.aggressor_side is Side.SELL
    assert driver.depth() == ([(100, 6)], [])


def test_partial_fill_statuses_and_quantities() -> None:
    """Guards against wrong status or quantities on both sides of a partial fill."""
    driver = Driver()
    driver.do(sell("s1", 10, 100))
    events = driver.do(buy("b1", 4, 100))
    maker, taker = last_update(events, "s1"), last_update(events, "b1")
    assert (maker.status, maker.traded_quantity, maker.remaining_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        4,
        6,
    )
    assert (taker.status, taker.traded_quantity, taker.remaining_quantity) == (
        OrderStatus.FILLED,
        4,
        0,
    )
    assert maker.traded_notional == taker.traded_notional == 400


def test_taker_events_in_documented_order() -> None:
    """Accepted, then (trade, maker update) per fill, then the taker's own update.

    Guards against the taker's update being emitted before the fills, which makes a
    projection show a filled order before its trades exist.
    """
    driver = Driver()
    driver.do(sell("s1", 2, 100))
    driver.do(sell("s2", 3, 101))
    events = driver.do(buy("b1", 5, 101))
    shape = [(type(e).__name__, getattr(e, "order_id", None)) for e in events]
    assert shape == [
        ("OrderAccepted", "b1"),
        ("TradeExecuted", None),
        ("OrderUpdated", "s1"),
        ("TradeExecuted", None),
        ("OrderUpdated", "s2"),
        ("OrderUpdated", "b1"),
    ]


def test_trade_sequences_increase_across_commands() -> None:
    """Guards against a per-book or per-command counter that repeats trade ids."""
    driver = Driver()
    sequences: list[int] = []
    for i in range(5):
        driver.do(sell(f"s{i}", 1, 100))
        sequences += [
            e.sequence for e in driver.do(buy(f"b{i}", 1, 100)) if isinstance(e, TradeExecuted)
        ]
    assert len(sequences) == 5
    assert all(a < b for a, b in pairwise(sequences))


def test_accounts_default_to_distinct_buyer_and_seller() -> None:
    """Guards the helpers themselves: default orders must not self-trade by accident."""
    assert buy("b", 1, 1).account == BUYER and sell("s", 1, 1).account == SELLER
    assert BUYER != SELLER


def test_client_order_id_travels_in_accepted_event() -> None:
    """Guards against client_order_id being dropped on the way in."""
    driver = Driver()
    events = driver.do(PlaceOrder("o1", BUYER, SYMBOL, Side.BUY, 1, 100, client_order_id="mine-1"))
    accepted = events[0]
    assert isinstance(accepted, OrderAccepted) and accepted.client_order_id == "mine-1"
    resting = driver.engine.order("o1")
    assert resting is not None and resting.client_order_id == "mine-1"
