"""Depth: per-level aggregation, ordering, top-N truncation, lazily dropped levels."""

from __future__ import annotations

import pytest

from matcher.core import Side
from tests.core.helpers import (
    SYMBOL,
    Driver,
    buy,
    cancel,
    limit,
    modify,
    rejection,
    sell,
    trade_tuples,
)


def _book_with_levels() -> Driver:
    driver = Driver()
    for i, (price, quantity) in enumerate([(100, 1), (98, 2), (100, 3), (99, 4), (97, 5)]):
        driver.do(buy(f"b{i}", quantity, price))
    for i, (price, quantity) in enumerate([(103, 6), (101, 7), (103, 8), (102, 9), (104, 1)]):
        driver.do(sell(f"s{i}", quantity, price))
    return driver


def test_levels_aggregated_and_ordered_best_first() -> None:
    """Guards against per-order depth rows, or bids sorted ascending."""
    driver = _book_with_levels()
    assert driver.depth() == (
        [(100, 4), (99, 4), (98, 2), (97, 5)],
        [(101, 7), (102, 9), (103, 14), (104, 1)],
    )


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 50])
def test_top_n_truncation(n: int) -> None:
    """Guards against returning n+1 levels, the worst n, or failing for n=0."""
    bids, asks = _book_with_levels().engine.book(SYMBOL).depth(n)
    assert bids == [(100, 4), (99, 4), (98, 2), (97, 5)][:n]
    assert asks == [(101, 7), (102, 9), (103, 14), (104, 1)][:n]


def test_negative_n_is_empty() -> None:
    """Guards against a negative n slicing from the end."""
    assert _book_with_levels().engine.book(SYMBOL).depth(-1) == ([], [])


def test_levels_beyond_n_surface_when_better_ones_go() -> None:
    """Guards against a cached top-N that never refills from deeper levels."""
    driver = _book_with_levels()
    book = driver.engine.book(SYMBOL)
    assert book.depth(2) == ([(100, 4), (99, 4)], [(101, 7), (102, 9)])
    driver.do(cancel("b0"))
    driver.do(cancel("b2"))
    driver.do(buy("x", 7, 101))
    assert book.depth(2) == ([(99, 4), (98, 2)], [(102, 9), (103, 14)])


def test_depth_follows_partial_fills_and_modifies() -> None:
    """Guards against a level volume not updated on fills or quantity changes."""
    driver = _book_with_levels()
    driver.do(sell("x", 2, 100))
    driver.do(modify("s2", quantity=3))
    driver.do(modify("b3", price=96))
    assert driver.depth() == (
        [(100, 2), (98, 2), (97, 5), (96, 4)],
        [(101, 7), (102, 9), (103, 9), (104, 1)],
    )


def _levels(resting: dict[str, tuple[int, int]], best_is_highest: bool) -> list[tuple[int, int]]:
    """Aggregate {order id: (price, quantity)} into depth levels, best first."""
    totals: dict[int, int] = {}
    for price, quantity in resting.values():
        totals[price] = totals.get(price, 0) + quantity
    return sorted(totals.items(), reverse=best_is_highest)


def test_many_levels_with_lazy_deletion_and_compaction() -> None:
    """3,000 ask levels and 1,500 bid levels, most emptied away from the top, then swept.

    Guards against the lazily deleted, periodically compacted heap (a rebuild happens
    once over 1,024 emptied levels pile up): emptied levels reported in depth, live
    levels lost by a rebuild, a stale best price, or refilled prices ignored.
    """
    driver = Driver(check=False)
    book = driver.engine.book(SYMBOL)
    asks: dict[str, tuple[int, int]] = {}
    bids: dict[str, tuple[int, int]] = {}
    for i in range(3_000):
        asks[f"a{i}"] = (5_000 + i, 1 + i % 3)
        bids[f"b{i}"] = (4_999 - i // 2, 1 + i % 4)
        for order_id, side in ((f"a{i}", Side.SELL), (f"b{i}", Side.BUY)):
            price, quantity = (asks if side is Side.SELL else bids)[order_id]
            assert rejection(driver.do(limit(order_id, side, quantity, price))) is None
    # cancel all but every 97th order, deepest first, so the top is never touched
    for i in reversed(range(3_000)):
        if i % 97:
            assert rejection(driver.do(cancel(f"a{i}"))) is None
            assert rejection(driver.do(cancel(f"b{i}"))) is None
            del asks[f"a{i}"], bids[f"b{i}"]
        if i % 500 == 0:
            assert driver.depth() == (_levels(bids, True), _levels(asks, False))
    assert (book.best_bid(), book.best_ask()) == (4_999, 5_000)
    # refill every 10th price (some emptied, some still live), then sweep all asks
    for i in range(0, 3_000, 10):
        assert rejection(driver.do(limit(f"r{i}", Side.SELL, 2, 5_000 + i))) is None
        asks[f"r{i}"] = (5_000 + i, 2)
    assert driver.depth() == (_levels(bids, True), _levels(asks, False))
    total = sum(quantity for _, quantity in asks.values())
    driver.check = True
    events = driver.do(buy("sweep", total, 9_999))
    # best price first, and within a price time priority (dict order is arrival order)
    by_price_then_arrival = sorted(asks.values(), key=lambda level: level[0])
    assert [(p, q) for p, q, _, _ in trade_tuples(events)] == by_price_then_arrival
    assert driver.depth() == (_levels(bids, True), [])
    assert (book.best_bid(), book.best_ask()) == (4_999, None)
