"""Conformance battery: short sequences on an empty book, checked after EVERY step.

Each scenario is a table of steps: the command, the trades it must produce as
(price, qty, buy_id, sell_id), the rejection if any, and the full depth afterwards
(the best bid / ask are checked to be the first level of each side). Every expected
value is written by hand from docs/MATCHING.md, never copied from a run. On top of
that, the Driver checks the documented event grammar of every single command.
"""

from __future__ import annotations

import pytest

from matcher.core import (
    CancelReason,
    OrderAccepted,
    OrderStatus,
    RejectReason,
    Side,
    TradeExecuted,
)
from tests.core.helpers import (
    MAX_PRICE,
    SYMBOL,
    Driver,
    Scenario,
    Step,
    buy,
    cancel,
    ioc_buy,
    ioc_sell,
    last_update,
    market_buy,
    modify,
    run_steps,
    sell,
    trades_of,
)

FILLED = OrderStatus.FILLED
OPEN = OrderStatus.OPEN
PARTIAL = OrderStatus.PARTIALLY_FILLED
CANCELLED = OrderStatus.CANCELLED
NOT_LIVE = RejectReason.ORDER_NOT_LIVE

SCENARIOS = [
    Scenario(
        "cancel_head_and_middle_then_sweep",
        "a cancel that unlinks the wrong node (or leaves a dangling link) so a later "
        "sweep fills a cancelled order or skips a live one",
        [
            Step(sell("s1", 10, 100), asks=[(100, 10)], status=OPEN),
            Step(sell("s2", 20, 100), asks=[(100, 30)]),
            Step(sell("s3", 30, 100), asks=[(100, 60)]),
            Step(sell("s4", 40, 100), asks=[(100, 100)]),
            Step(cancel("s1"), asks=[(100, 90)], status=CANCELLED, reason=CancelReason.USER),
            Step(cancel("s3"), asks=[(100, 60)], status=CANCELLED, reason=CancelReason.USER),
            Step(
                buy("b1", 70, 100),
                trades=[(100, 20, "b1", "s2"), (100, 40, "b1", "s4")],
                bids=[(100, 10)],
                status=PARTIAL,
            ),
        ],
    ),
    Scenario(
        "scattered_cancels_in_deep_queue",
        "cancels of several non-adjacent nodes (incl. the tail) corrupting the FIFO list "
        "or the level's volume",
        [
            *[
                Step(sell(f"s{i}", i + 1, 100), asks=[(100, sum(range(1, i + 2)))])
                for i in range(10)
            ],
            Step(cancel("s1"), asks=[(100, 53)]),
            Step(cancel("s4"), asks=[(100, 48)]),
            Step(cancel("s9"), asks=[(100, 38)]),
            Step(cancel("s5"), asks=[(100, 32)]),
            Step(
                buy("b1", 32, 100),
                trades=[
                    (100, 1, "b1", "s0"),
                    (100, 3, "b1", "s2"),
                    (100, 4, "b1", "s3"),
                    (100, 7, "b1", "s6"),
                    (100, 8, "b1", "s7"),
                    (100, 9, "b1", "s8"),
                ],
                status=FILLED,
            ),
            Step(cancel("s4"), reject=NOT_LIVE),
            Step(cancel("s8"), reject=NOT_LIVE),
        ],
    ),
    Scenario(
        "multi_level_sweep_exact_fill_asks",
        "walking levels in insertion order instead of best price first; an exact fill "
        "leaving an empty level or a zero-quantity order behind",
        [
            Step(sell("s1", 5, 102), asks=[(102, 5)]),
            Step(sell("s2", 5, 101), asks=[(101, 5), (102, 5)]),
            Step(sell("s3", 5, 103), asks=[(101, 5), (102, 5), (103, 5)]),
            Step(sell("s4", 5, 101), asks=[(101, 10), (102, 5), (103, 5)]),
            Step(
                buy("b1", 20, 103),
                trades=[
                    (101, 5, "b1", "s2"),
                    (101, 5, "b1", "s4"),
                    (102, 5, "b1", "s1"),
                    (103, 5, "b1", "s3"),
                ],
                status=FILLED,
            ),
        ],
    ),
    Scenario(
        "multi_level_sweep_exact_fill_bids",
        "the bid side ordered lowest first (sign error in the heap key)",
        [
            Step(buy("b1", 4, 98), bids=[(98, 4)]),
            Step(buy("b2", 6, 99), bids=[(99, 6), (98, 4)]),
            Step(buy("b3", 5, 97), bids=[(99, 6), (98, 4), (97, 5)]),
            Step(
                sell("s1", 15, 97),
                trades=[(99, 6, "b2", "s1"), (98, 4, "b1", "s1"), (97, 5, "b3", "s1")],
                status=FILLED,
            ),
        ],
    ),
    Scenario(
        "aggressor_residual_becomes_best_and_fills",
        "a GTC aggressor's residual lost, resting at the wrong price, or not matchable "
        "as a maker afterwards",
        [
            Step(buy("b0", 7, 99), bids=[(99, 7)]),
            Step(sell("s1", 10, 100), bids=[(99, 7)], asks=[(100, 10)]),
            Step(
                buy("b1", 15, 101),
                trades=[(100, 10, "b1", "s1")],
                bids=[(101, 5), (99, 7)],
                status=PARTIAL,
            ),
            Step(
                sell("s2", 8, 99),
                trades=[(101, 5, "b1", "s2"), (99, 3, "b0", "s2")],
                bids=[(99, 4)],
                status=FILLED,
            ),
        ],
    ),
    Scenario(
        "modify_reprice_through_spread_both_directions",
        "a crossing modify that rests without matching (crossed book), or trades at "
        "the modified order's own price instead of the maker's",
        [
            Step(sell("s1", 10, 105), asks=[(105, 10)]),
            Step(sell("s2", 10, 107), asks=[(105, 10), (107, 10)]),
            Step(buy("b1", 15, 100), bids=[(100, 15)], asks=[(105, 10), (107, 10)]),
            # strictly past the maker at 105, short of 107: trades at 105, rests at 106
            Step(
                modify("b1", price=106),
                trades=[(105, 10, "b1", "s1")],
                bids=[(106, 5)],
                asks=[(107, 10)],
                status=PARTIAL,
            ),
            # the other direction: the ask goes strictly past the bid at 106
            Step(
                modify("s2", price=104),
                trades=[(106, 5, "b1", "s2")],
                asks=[(104, 5)],
                status=PARTIAL,
            ),
        ],
    ),
    Scenario(
        "reprice_one_of_two_same_price_orders",
        "moving one order of a level dragging its neighbour along or dropping the level",
        [
            Step(buy("b1", 10, 100), bids=[(100, 10)]),
            Step(buy("b2", 20, 100), bids=[(100, 30)]),
            Step(modify("b1", price=99), bids=[(100, 20), (99, 10)], status=OPEN),
            Step(
                sell("s1", 25, 99),
                trades=[(100, 20, "b2", "s1"), (99, 5, "b1", "s1")],
                bids=[(99, 5)],
                status=FILLED,
            ),
        ],
    ),
    Scenario(
        "reprice_tail_of_two_to_a_new_best_level",
        "repricing the tail of a level corrupting the head that stays",
        [
            Step(buy("b1", 10, 100), bids=[(100, 10)]),
            Step(buy("b2", 20, 100), bids=[(100, 30)]),
            Step(modify("b2", price=101), bids=[(101, 20), (100, 10)]),
            Step(
                sell("s1", 25, 100),
                trades=[(101, 20, "b2", "s1"), (100, 5, "b1", "s1")],
                bids=[(100, 5)],
            ),
            Step(cancel("b1"), status=CANCELLED, reason=CancelReason.USER),
        ],
    ),
    Scenario(
        "partial_fill_residual_cancellable_and_modifiable",
        "a partially filled maker treated as gone (or its traded part forgotten) by a "
        "later modify or cancel",
        [
            Step(sell("s1", 10, 100), asks=[(100, 10)]),
            Step(buy("b1", 4, 100), trades=[(100, 4, "b1", "s1")], asks=[(100, 6)], status=FILLED),
            Step(modify("s1", quantity=8), asks=[(100, 4)], status=PARTIAL),
            Step(modify("s1", price=101), asks=[(101, 4)], status=PARTIAL),
            Step(cancel("s1"), status=CANCELLED, reason=CancelReason.USER),
        ],
    ),
    Scenario(
        "cancel_and_modify_of_filled_orders_rejected",
        "a filled order still reachable through the index, so a late cancel or modify "
        "resurrects it",
        [
            Step(sell("s1", 10, 100), asks=[(100, 10)]),
            Step(buy("b1", 10, 100), trades=[(100, 10, "b1", "s1")], status=FILLED),
            Step(cancel("s1"), reject=NOT_LIVE),
            Step(modify("s1", price=101), reject=NOT_LIVE),
            Step(cancel("b1"), reject=NOT_LIVE),
            Step(modify("b1", quantity=20), reject=NOT_LIVE),
        ],
    ),
    Scenario(
        "fifo_within_level_price_priority_across_levels",
        "LIFO or arbitrary order inside a level; a worse level filled before a better one",
        [
            Step(sell("s1", 5, 101), asks=[(101, 5)]),
            Step(sell("s2", 5, 100), asks=[(100, 5), (101, 5)]),
            Step(sell("s3", 5, 101), asks=[(100, 5), (101, 10)]),
            Step(sell("s4", 5, 100), asks=[(100, 10), (101, 10)]),
            Step(
                buy("b1", 7, 101),
                trades=[(100, 5, "b1", "s2"), (100, 2, "b1", "s4")],
                asks=[(100, 3), (101, 10)],
            ),
            Step(
                buy("b2", 8, 101),
                trades=[(100, 3, "b2", "s4"), (101, 5, "b2", "s1")],
                asks=[(101, 5)],
            ),
            Step(buy("b3", 5, 101), trades=[(101, 5, "b3", "s3")]),
        ],
    ),
    Scenario(
        "reused_ids_never_corrupt_the_book",
        "an index entry of an ended order still pointing at the old object, so the new "
        "order with the same id is invisible or the old one is touched",
        [
            Step(sell("s1", 10, 100), asks=[(100, 10)]),
            Step(cancel("s1")),
            Step(sell("s1", 5, 101), asks=[(101, 5)], status=OPEN),
            Step(buy("b1", 3, 101), trades=[(101, 3, "b1", "s1")], asks=[(101, 2)]),
            Step(cancel("s1"), status=CANCELLED, reason=CancelReason.USER),
            Step(sell("s1", 4, 102), asks=[(102, 4)]),
            Step(buy("b1", 4, 102), trades=[(102, 4, "b1", "s1")], status=FILLED),
            Step(cancel("s1"), reject=NOT_LIVE),
            Step(buy("b1", 6, 99), bids=[(99, 6)]),
            Step(modify("b1", quantity=2), bids=[(99, 2)]),
            Step(sell("s1", 2, 99), trades=[(99, 2, "b1", "s1")]),
        ],
    ),
    Scenario(
        "cancel_best_level_no_phantom_best",
        "an emptied level still reported as best (lazy deletion never applied), so a "
        "later order trades against nothing or refuses to rest",
        [
            Step(buy("b1", 10, 100), bids=[(100, 10)]),
            Step(buy("b2", 10, 99), bids=[(100, 10), (99, 10)]),
            Step(cancel("b1"), bids=[(99, 10)]),
            Step(cancel("b2")),
            Step(sell("s1", 5, 98), asks=[(98, 5)], status=OPEN),
            Step(buy("b3", 5, 100), trades=[(98, 5, "b3", "s1")], status=FILLED),
            Step(buy("b4", 3, 100), bids=[(100, 3)], status=OPEN),
            Step(cancel("b4")),
            Step(sell("s2", 1, 100), asks=[(100, 1)], status=OPEN),
        ],
    ),
    Scenario(
        "ioc_residual_never_rests",
        "an IOC remainder left on the book",
        [
            Step(sell("s1", 5, 100), asks=[(100, 5)]),
            Step(
                ioc_buy("b1", 8, 100),
                trades=[(100, 5, "b1", "s1")],
                status=CANCELLED,
                reason=CancelReason.IOC_REMAINDER,
            ),
            Step(ioc_buy("b2", 5, 100), status=CANCELLED, reason=CancelReason.IOC_REMAINDER),
            Step(ioc_sell("s2", 5, 1), status=CANCELLED, reason=CancelReason.IOC_REMAINDER),
            Step(cancel("b1"), reject=NOT_LIVE),
        ],
    ),
    Scenario(
        "marketable_limit_stops_at_its_limit",
        "an off-by-one in the limit test (< vs <=) that trades one level too far or "
        "stops one level short",
        [
            Step(sell("s1", 5, 100), asks=[(100, 5)]),
            Step(sell("s2", 5, 101), asks=[(100, 5), (101, 5)]),
            Step(sell("s3", 5, 102), asks=[(100, 5), (101, 5), (102, 5)]),
            Step(
                buy("b1", 12, 101),
                trades=[(100, 5, "b1", "s1"), (101, 5, "b1", "s2")],
                bids=[(101, 2)],
                asks=[(102, 5)],
                status=PARTIAL,
            ),
        ],
    ),
    Scenario(
        "partially_consumed_maker_keeps_its_place",
        "a partially filled maker re-queued at the back of its level",
        [
            Step(sell("s1", 10, 100), asks=[(100, 10)]),
            Step(sell("s2", 10, 100), asks=[(100, 20)]),
            Step(buy("b1", 3, 100), trades=[(100, 3, "b1", "s1")], asks=[(100, 17)]),
            Step(buy("b2", 3, 100), trades=[(100, 3, "b2", "s1")], asks=[(100, 14)]),
            Step(
                buy("b3", 6, 100),
                trades=[(100, 4, "b3", "s1"), (100, 2, "b3", "s2")],
                asks=[(100, 8)],
            ),
        ],
    ),
    Scenario(
        "price_at_and_one_tick_above_maximum",
        "an off-by-one in the maximum-price check, or a market buy limited below the "
        "maximum so it cannot reach an ask at the maximum",
        [
            Step(sell("s1", 5, MAX_PRICE), asks=[(MAX_PRICE, 5)], status=OPEN),
            Step(
                sell("s2", 5, MAX_PRICE + 1),
                asks=[(MAX_PRICE, 5)],
                reject=RejectReason.PRICE_ABOVE_MAXIMUM,
            ),
            Step(
                buy("b1", 5, MAX_PRICE + 1),
                asks=[(MAX_PRICE, 5)],
                reject=RejectReason.PRICE_ABOVE_MAXIMUM,
            ),
            Step(
                market_buy("m1", 8),
                trades=[(MAX_PRICE, 5, "m1", "s1")],
                status=CANCELLED,
                reason=CancelReason.NO_LIQUIDITY,
            ),
            Step(buy("b2", 3, MAX_PRICE), bids=[(MAX_PRICE, 3)]),
            Step(
                modify("b2", price=MAX_PRICE + 1),
                bids=[(MAX_PRICE, 3)],
                reject=RejectReason.PRICE_ABOVE_MAXIMUM,
            ),
            Step(sell("s3", 1, 1), trades=[(MAX_PRICE, 1, "b2", "s3")], bids=[(MAX_PRICE, 2)]),
        ],
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    """Runs one table; the scenario's `guards_against` names the bug it catches."""
    run_steps(scenario.steps)


def test_scenario_names_are_unique() -> None:
    """Guards against a copy-pasted scenario silently shadowing another in reports."""
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    assert all(s.guards_against for s in SCENARIOS)


def test_one_aggressor_5000_fills() -> None:
    """One buy sweeps 5,000 resting asks over 50 levels.

    Guards against recursion or quadratic behaviour in the sweep, fills out of
    price-time order, lost quantity, and a side left with empty levels or phantom best.
    """
    driver = Driver(check=False)
    expected: list[tuple[int, int, int, str]] = []  # (price, placement index, qty, id)
    for i in range(5_000):
        price, quantity = 100 + (i * 7) % 50, 1 + i % 9
        driver.do(sell(f"s{i}", quantity, price))
        expected.append((price, i, quantity, f"s{i}"))
    total = sum(q for _, _, q, _ in expected)
    driver.check = True
    events = driver.do(buy("big", total, 149))
    trades = trades_of(events)
    assert len(trades) == 5_000
    assert sum(t.quantity for t in trades) == total
    expected.sort()
    assert [(t.price, t.quantity, t.sell_order_id) for t in trades] == [
        (p, q, oid) for p, _, q, oid in expected
    ]
    assert all(t.buy_order_id == "big" for t in trades)
    sequences = [t.sequence for t in trades]
    assert sequences == sorted(set(sequences))
    own = last_update(events, "big")
    assert (own.status, own.traded_quantity, own.remaining_quantity) == (FILLED, total, 0)
    assert driver.depth() == ([], [])
    book = driver.engine.book(SYMBOL)
    assert book.best_ask() is None and book.best_bid() is None
    assert driver.engine.open_orders() == []


def test_5000_fills_event_layout() -> None:
    """Each of 5,000 fills is a TradeExecuted immediately followed by its maker's update.

    Guards against batching maker updates at the end (the documented order interleaves
    them), which breaks consumers that project events one by one.
    """
    driver = Driver(check=False)
    for i in range(5_000):
        driver.do(buy(f"b{i}", 1, 500 - i % 100))
    events = driver.do(sell("big", 5_000, 1))
    assert isinstance(events[0], OrderAccepted) and len(events) == 1 + 2 * 5_000 + 1
    for k in range(5_000):
        trade, maker = events[1 + 2 * k], events[2 + 2 * k]
        assert isinstance(trade, TradeExecuted)
        assert getattr(maker, "order_id", None) == trade.buy_order_id
        assert trade.aggressor_side is Side.SELL and trade.sell_order_id == "big"
    assert [t.price for t in trades_of(events)] == sorted(
        (500 - i % 100 for i in range(5_000)), reverse=True
    )
    assert driver.depth() == ([], [])
    assert last_update(events, "big").status is FILLED
    assert driver.engine.open_orders() == []
