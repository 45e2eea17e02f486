"""Cancel: removes the remaining quantity; the traded part stays; owner only."""

from __future__ import annotations

import pytest

from matcher.core import CancelReason, OrderStatus, RejectReason
from tests.core.helpers import (
    Driver,
    Step,
    buy,
    cancel,
    last_update,
    new_engine,
    rejection,
    run_steps,
    sell,
    state_of,
)


def test_cancel_open_order() -> None:
    """Guards against a cancel reported with the wrong reason or quantities."""
    driver = Driver()
    driver.do(buy("b1", 10, 100))
    events = driver.do(cancel("b1"))
    own = last_update(events, "b1")
    assert (own.status, own.cancel_reason) == (OrderStatus.CANCELLED, CancelReason.USER)
    assert (own.quantity, own.traded_quantity, own.remaining_quantity) == (10, 0, 0)
    assert own.cancelled_quantity == 10
    assert driver.depth() == ([], [])
    assert driver.engine.order("b1") is None


def test_cancel_keeps_traded_part() -> None:
    """Guards against a cancel zeroing the traded quantity or notional."""
    driver = Driver()
    driver.do(sell("s1", 10, 100))
    driver.do(buy("b1", 3, 100))
    own = last_update(driver.do(cancel("s1")), "s1")
    assert (own.traded_quantity, own.cancelled_quantity, own.remaining_quantity) == (3, 7, 0)
    assert own.traded_notional == 300
    assert own.status is OrderStatus.CANCELLED


def test_cancel_by_other_account_is_unknown_and_changes_nothing() -> None:
    """Guards against an account cancelling another's order."""
    driver = Driver()
    driver.do(buy("b1", 10, 100))
    before = state_of(driver.engine)
    events = driver.do(cancel("b1", account="mallory"))
    assert rejection(events) is RejectReason.UNKNOWN_ORDER
    assert state_of(driver.engine) == before


def test_cancel_unknown_id() -> None:
    """Guards against a KeyError escaping for an id never seen."""
    driver = Driver()
    assert rejection(driver.do(cancel("ghost", account="anyone"))) is RejectReason.UNKNOWN_ORDER


def test_cancel_twice_is_not_live() -> None:
    """Guards against a double cancel decrementing the level twice."""
    run_steps(
        [
            Step(buy("b1", 10, 100), bids=[(100, 10)]),
            Step(buy("b2", 5, 100), bids=[(100, 15)]),
            Step(cancel("b1"), bids=[(100, 5)]),
            Step(cancel("b1"), bids=[(100, 5)], reject=RejectReason.ORDER_NOT_LIVE),
        ]
    )


def test_cancel_tail_then_append_keeps_fifo() -> None:
    """Guards against a stale tail pointer after removing the last order of a level."""
    run_steps(
        [
            Step(sell("s1", 1, 100), asks=[(100, 1)]),
            Step(sell("s2", 2, 100), asks=[(100, 3)]),
            Step(cancel("s2"), asks=[(100, 1)]),
            Step(sell("s3", 3, 100), asks=[(100, 4)]),
            Step(buy("b1", 4, 100), trades=[(100, 1, "b1", "s1"), (100, 3, "b1", "s3")]),
        ]
    )


def test_cancel_only_order_then_reuse_level() -> None:
    """Guards against an emptied level object being reused with stale counters."""
    run_steps(
        [
            Step(sell("s1", 5, 100), asks=[(100, 5)]),
            Step(cancel("s1")),
            Step(sell("s2", 7, 100), asks=[(100, 7)]),
            Step(buy("b1", 7, 100), trades=[(100, 7, "b1", "s2")]),
        ]
    )


def test_ended_memory_remembers_the_last_n_and_is_bounded() -> None:
    """Documented: the engine remembers the last `ended_memory` ended ids.

    Guards against an unbounded memory (a long-running engine growing without end)
    and against a memory so short that a late cancel of a just-ended order is told
    unknown_order. Older ids may be remembered for a while (the index keeps two
    generations), so only the last N and a clearly evicted id are pinned down.
    """
    memory = 3
    driver = Driver(engine=new_engine(ended_memory=memory))
    ids = [f"o{i}" for i in range(4 * memory)]
    for order_id in ids:
        driver.do(buy(order_id, 1, 100))
        driver.do(cancel(order_id))
        for recent in ids[: ids.index(order_id) + 1][-memory:]:
            assert rejection(driver.do(cancel(recent))) is RejectReason.ORDER_NOT_LIVE
    assert rejection(driver.do(cancel(ids[0]))) is RejectReason.UNKNOWN_ORDER


def test_ended_memory_counts_a_reused_id_from_its_latest_end() -> None:
    """An id that ends, is reused and ends again is one of the most recent ended ids.

    Guards against the ended memory being ordered by first end instead of last end
    (the case of an OrderedDict re-assignment, which keeps the original position).
    """
    driver = Driver(engine=new_engine(ended_memory=2))
    for order_id in ("a", "b", "a", "c"):
        driver.do(buy(order_id, 1, 100))
        driver.do(cancel(order_id))
    # the last two ended ids are "a" (its second end) and "c"
    assert rejection(driver.do(cancel("a"))) is RejectReason.ORDER_NOT_LIVE
    assert rejection(driver.do(cancel("c"))) is RejectReason.ORDER_NOT_LIVE


@pytest.mark.parametrize("ended_by", ["cancel", "fill"])
def test_other_accounts_ended_order_is_unknown(ended_by: str) -> None:
    """docs/MATCHING.md: unknown_order for an id owned by another account.

    Guards against leaking the existence of another account's orders (DESIGN §2: 404,
    never reveal that it exists) through the ended-id memory.
    """
    driver = Driver()
    driver.do(buy("alice-1", 5, 100, account="alice"))
    if ended_by == "cancel":
        driver.do(cancel("alice-1"))
    else:
        driver.do(sell("s1", 5, 100, account="bob"))
    assert rejection(driver.do(cancel("alice-1", account="mallory"))) is RejectReason.UNKNOWN_ORDER
