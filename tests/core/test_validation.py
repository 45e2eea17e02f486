"""Validation: every RejectReason, its documented precedence, and no side effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.core import (
    CancelOrder,
    Command,
    ModifyOrder,
    OrderType,
    PlaceOrder,
    RejectReason,
    Side,
    TimeInForce,
)
from tests.core.helpers import (
    MAX_PRICE,
    MAX_QUANTITY,
    SELLER,
    SYMBOL,
    Driver,
    buy,
    cancel,
    limit,
    market,
    modify,
    rejection,
    sell,
    state_of,
)

R = RejectReason


def _prepared() -> Driver:
    """A book with a live sell `live` (SELLER), a post-only buy `po`, an ended `gone`."""
    driver = Driver()
    driver.do(sell("live", 10, 105))
    driver.do(buy("po", 10, 100, post_only=True))
    driver.do(buy("gone", 1, 90))
    driver.do(cancel("gone"))
    return driver


@dataclass(frozen=True)
class Case:
    name: str
    command: Command
    reason: RejectReason


CASES = [
    # place, one failure each
    Case("unknown_symbol", buy("n1", 1, 100, symbol="NOPE"), R.UNKNOWN_SYMBOL),
    Case("duplicate_live_id", buy("live", 1, 100), R.DUPLICATE_ORDER_ID),
    Case("zero_quantity", buy("n1", 0, 100), R.INVALID_QUANTITY),
    Case("negative_quantity", buy("n1", -1, 100), R.INVALID_QUANTITY),
    Case("quantity_above_max", buy("n1", MAX_QUANTITY + 1, 100), R.INVALID_QUANTITY),
    Case("market_with_price", market("n1", Side.BUY, 1, price=100), R.MARKET_ORDER_WITH_PRICE),
    Case("post_only_market", market("n1", Side.BUY, 1, post_only=True), R.INVALID_POST_ONLY),
    Case("limit_without_price", limit("n1", Side.BUY, 1, None), R.LIMIT_ORDER_WITHOUT_PRICE),
    Case("zero_price", buy("n1", 1, 0), R.INVALID_PRICE),
    Case("negative_price", sell("n1", 1, -100), R.INVALID_PRICE),
    Case("price_above_max", sell("n1", 1, MAX_PRICE + 1), R.PRICE_ABOVE_MAXIMUM),
    Case(
        "post_only_ioc", buy("n1", 1, 1, tif=TimeInForce.IOC, post_only=True), R.INVALID_POST_ONLY
    ),
    Case(
        "post_only_fok", buy("n1", 1, 1, tif=TimeInForce.FOK, post_only=True), R.INVALID_POST_ONLY
    ),
    # place, precedence
    Case("symbol_before_duplicate", buy("live", 0, 0, symbol="NOPE"), R.UNKNOWN_SYMBOL),
    Case("duplicate_before_quantity", buy("live", 0, 0), R.DUPLICATE_ORDER_ID),
    Case("quantity_before_market_price", market("n1", Side.SELL, 0, price=5), R.INVALID_QUANTITY),
    Case(
        "market_price_before_post_only",
        market("n1", Side.SELL, 1, price=5, post_only=True),
        R.MARKET_ORDER_WITH_PRICE,
    ),
    Case("quantity_before_missing_price", limit("n1", Side.BUY, -2, None), R.INVALID_QUANTITY),
    Case(
        "missing_price_before_post_only",
        limit("n1", Side.BUY, 1, None, tif=TimeInForce.IOC, post_only=True),
        R.LIMIT_ORDER_WITHOUT_PRICE,
    ),
    Case(
        "invalid_price_before_post_only",
        buy("n1", 1, 0, tif=TimeInForce.IOC, post_only=True),
        R.INVALID_PRICE,
    ),
    Case(
        "price_max_before_post_only",
        buy("n1", 1, MAX_PRICE + 1, tif=TimeInForce.FOK, post_only=True),
        R.PRICE_ABOVE_MAXIMUM,
    ),
    # modify
    Case("modify_never_seen", modify("ghost", price=1, account=SELLER), R.UNKNOWN_ORDER),
    Case("modify_other_account", modify("live", price=104, account="mallory"), R.UNKNOWN_ORDER),
    Case("modify_ended", modify("gone", price=91), R.ORDER_NOT_LIVE),
    Case("modify_nothing", modify("live"), R.NOTHING_TO_MODIFY),
    Case("modify_zero_price", modify("live", price=0), R.INVALID_PRICE),
    Case("modify_price_above_max", modify("live", price=MAX_PRICE + 1), R.PRICE_ABOVE_MAXIMUM),
    Case("modify_zero_quantity", modify("live", quantity=0), R.INVALID_QUANTITY),
    Case(
        "modify_quantity_above_max", modify("live", quantity=MAX_QUANTITY + 1), R.INVALID_QUANTITY
    ),
    Case("modify_post_only_cross", modify("po", price=105), R.POST_ONLY_WOULD_CROSS),
    # modify, precedence
    Case("other_account_before_nothing", modify("live", account="mallory"), R.UNKNOWN_ORDER),
    Case("not_live_before_nothing", modify("gone"), R.ORDER_NOT_LIVE),
    Case("not_live_before_bad_values", modify("gone", price=0, quantity=0), R.ORDER_NOT_LIVE),
    Case("price_before_quantity", modify("live", price=-1, quantity=-1), R.INVALID_PRICE),
    Case(
        "price_max_before_quantity",
        modify("live", price=MAX_PRICE + 1, quantity=0),
        R.PRICE_ABOVE_MAXIMUM,
    ),
    Case(
        "quantity_before_post_only_cross", modify("po", price=105, quantity=0), R.INVALID_QUANTITY
    ),
    # cancel
    Case("cancel_never_seen", cancel("ghost", account=SELLER), R.UNKNOWN_ORDER),
    Case("cancel_other_account", cancel("live", account="mallory"), R.UNKNOWN_ORDER),
    Case("cancel_ended", cancel("gone"), R.ORDER_NOT_LIVE),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rejection_reason_and_no_side_effect(case: Case) -> None:
    """Guards against the wrong check winning, and against half-applied rejections."""
    driver = _prepared()
    before = state_of(driver.engine)
    events = driver.do(case.command)
    assert rejection(events) is case.reason
    assert state_of(driver.engine) == before
    # the engine is still fully usable afterwards
    assert rejection(driver.do(buy("after", 1, 1))) is None


def test_every_reject_reason_is_reachable() -> None:
    """Guards against dead codes (and against this table missing a new code)."""
    assert {c.reason for c in CASES} == set(RejectReason)


def test_rejected_place_does_not_reserve_or_free_ids() -> None:
    """A rejected place with a live id must not disturb the live order.

    Guards against a duplicate place overwriting the index entry of the live order.
    """
    driver = _prepared()
    driver.do(buy("live", 5, 200, account="mallory"))
    assert rejection(driver.do(cancel("live"))) is None
    assert driver.depth() == ([(100, 10)], [])


def test_rejected_place_id_is_not_remembered_as_ended() -> None:
    """An order that never existed is unknown, not ended (it never went live)."""
    driver = _prepared()
    driver.do(buy("bad", 0, 100))
    assert rejection(driver.do(cancel("bad", account="buyer"))) is RejectReason.UNKNOWN_ORDER


BAD_INTS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([MAX_PRICE, MAX_PRICE + 1, MAX_QUANTITY, MAX_QUANTITY + 1]),
    st.integers(),
)
IDS = st.one_of(st.sampled_from(["live", "po", "gone", "", "x"]), st.text(max_size=5))
ACCOUNTS = st.one_of(st.sampled_from([SELLER, "buyer", "", "mallory"]), st.text(max_size=3))

ANY_PLACE = st.builds(
    PlaceOrder,
    order_id=IDS,
    account=ACCOUNTS,
    symbol=st.one_of(st.just(SYMBOL), st.text(max_size=4)),
    side=st.sampled_from(Side),
    quantity=BAD_INTS,
    price=st.none() | BAD_INTS,
    order_type=st.sampled_from(OrderType),
    time_in_force=st.sampled_from(TimeInForce),
    post_only=st.booleans(),
    client_order_id=st.none() | st.text(max_size=3),
)
ANY_MODIFY = st.builds(
    ModifyOrder,
    order_id=IDS,
    account=ACCOUNTS,
    price=st.none() | BAD_INTS,
    quantity=st.none() | BAD_INTS,
)
ANY_CANCEL = st.builds(CancelOrder, order_id=IDS, account=ACCOUNTS)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.one_of(ANY_PLACE, ANY_MODIFY, ANY_CANCEL), max_size=12))
def test_no_exception_escapes_for_any_bad_input(commands: list[Command]) -> None:
    """Any typed-but-nonsensical command yields events (maybe a rejection), never raises.

    Guards against KeyError/AssertionError/TypeError paths on odd input combinations;
    the Driver also checks the event grammar of each answer.
    """
    driver = _prepared()
    for command in commands:
        events = driver.do(command)
        assert events


ACTIONS: dict[str, Callable[[Driver], object]] = {
    "place": lambda d: d.do(buy("n1", 1, 100)),
    "modify": lambda d: d.do(modify("live", quantity=3)),
    "cancel": lambda d: d.do(cancel("live")),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_valid_commands_still_work_after_rejections(action: str) -> None:
    """Guards against a rejection leaving the engine in a state that breaks the next one."""
    driver = _prepared()
    for case in CASES:
        driver.do(case.command)
    before = state_of(driver.engine)
    ACTIONS[action](driver)
    assert state_of(driver.engine) != before
