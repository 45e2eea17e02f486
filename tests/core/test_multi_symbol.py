"""Several symbols in one engine: separate books, one sequence, routing by order id."""

from __future__ import annotations

from matcher.core import OrderUpdated, RejectReason, TradeExecuted
from tests.core.helpers import (
    OTHER_SYMBOL,
    SYMBOL,
    Driver,
    buy,
    cancel,
    market_buy,
    modify,
    new_engine,
    rejection,
    sell,
    trade_tuples,
    trades_of,
)


def _two_books() -> Driver:
    return Driver(engine=new_engine((SYMBOL, OTHER_SYMBOL)))


def test_books_are_independent() -> None:
    """Guards against one book shared by all symbols (orders crossing symbols)."""
    driver = _two_books()
    driver.do(sell("s1", 5, 100, symbol=SYMBOL))
    events = driver.do(buy("b1", 5, 100, symbol=OTHER_SYMBOL))
    assert trade_tuples(events) == []
    assert driver.depth(SYMBOL) == ([], [(100, 5)])
    assert driver.depth(OTHER_SYMBOL) == ([(100, 5)], [])


def test_market_order_only_walks_its_own_symbol() -> None:
    """Guards against a market order falling through to another symbol's liquidity."""
    driver = _two_books()
    driver.do(sell("s1", 5, 100, symbol=OTHER_SYMBOL))
    events = driver.do(market_buy("m1", 5))
    assert trade_tuples(events) == []
    assert driver.depth(OTHER_SYMBOL) == ([], [(100, 5)])


def test_one_shared_sequence_across_symbols() -> None:
    """Guards against per-book sequences, which would mint duplicate trade ids."""
    driver = _two_books()
    sequences: list[int] = []
    for i in range(3):
        for symbol in (SYMBOL, OTHER_SYMBOL):
            driver.do(sell(f"s{symbol}{i}", 1, 100, symbol=symbol))
            events = driver.do(buy(f"b{symbol}{i}", 1, 100, symbol=symbol))
            sequences += [t.sequence for t in trades_of(events)]
            assert {t.symbol for t in trades_of(events)} == {symbol}
    assert len(sequences) == 6 and sequences == sorted(set(sequences))
    priorities = [o.priority for o in driver.engine.open_orders()]
    assert priorities == []
    driver.do(buy("x1", 1, 1, symbol=SYMBOL))
    driver.do(buy("x2", 1, 1, symbol=OTHER_SYMBOL))
    first, second = driver.engine.open_orders()
    assert (first.symbol, second.symbol) == (SYMBOL, OTHER_SYMBOL)
    assert sequences[-1] < first.priority < second.priority == driver.engine.sequence


def test_modify_and_cancel_routed_by_order_id() -> None:
    """Guards against modify/cancel applied to the first (or default) symbol's book."""
    driver = _two_books()
    driver.do(sell("a1", 5, 100, symbol=SYMBOL))
    driver.do(sell("o1", 5, 100, symbol=OTHER_SYMBOL))
    driver.do(buy("o2", 5, 98, symbol=OTHER_SYMBOL))
    events = driver.do(modify("o2", price=100))
    assert trade_tuples(events) == [(100, 5, "o2", "o1")]
    assert {t.symbol for t in trades_of(events)} == {OTHER_SYMBOL}
    assert driver.depth(SYMBOL) == ([], [(100, 5)])
    driver.do(sell("o3", 2, 101, symbol=OTHER_SYMBOL))
    events = driver.do(cancel("o3"))
    assert isinstance(events[0], OrderUpdated) and events[0].order_id == "o3"
    assert driver.depth(OTHER_SYMBOL) == ([], [])
    assert driver.depth(SYMBOL) == ([], [(100, 5)])


def test_live_id_is_unique_across_symbols() -> None:
    """Guards against a per-book id index letting two live orders share an id."""
    driver = _two_books()
    driver.do(buy("x", 5, 100, symbol=SYMBOL))
    events = driver.do(buy("x", 5, 100, symbol=OTHER_SYMBOL))
    assert rejection(events) is RejectReason.DUPLICATE_ORDER_ID
    assert driver.depth(OTHER_SYMBOL) == ([], [])


def test_unknown_symbol_rejected() -> None:
    """Guards against a KeyError for a symbol the shard does not own."""
    driver = _two_books()
    assert rejection(driver.do(buy("x", 5, 100, symbol="NOPE"))) is RejectReason.UNKNOWN_SYMBOL
    assert driver.engine.symbols == [SYMBOL, OTHER_SYMBOL]


def test_self_trade_is_per_account_not_per_symbol() -> None:
    """Guards against STP cancelling an account's order in another symbol."""
    driver = _two_books()
    driver.do(sell("mine", 5, 100, account="alice", symbol=OTHER_SYMBOL))
    driver.do(sell("theirs", 5, 100, account="bob", symbol=SYMBOL))
    events = driver.do(buy("b1", 5, 100, account="alice", symbol=SYMBOL))
    assert next(e for e in events if isinstance(e, TradeExecuted)).sell_order_id == "theirs"
    assert driver.engine.order("mine") is not None
