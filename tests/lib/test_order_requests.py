"""Request validation (DESIGN §2): every rule, every error code with its field, the hostile
inputs of the issue, and a property test that no JSON value at all makes the parsers raise.

Expected values are worked out from the rules (and the strictness decisions documented in
lib/order_requests.py), not read off the code's output."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.commands import ModifyCommand, PlaceCommand, dump_command, parse_command
from lib.config import Settings, SymbolSpec
from lib.errors import KINDS, ErrorCode
from lib.order_requests import (
    ApiError,
    ListQuery,
    ModifyOrder,
    PlaceOrder,
    parse_list_query,
    parse_modify,
    parse_order_id,
    parse_place,
    to_command,
)

ACME = SymbolSpec("ACME", Decimal("0.01"), Decimal("1000000"))
QTR = SymbolSpec("QTR", Decimal("0.25"), Decimal("1000"))
SYMBOLS = (ACME, QTR)  # ACME first: the default symbol

E = ErrorCode
BASE: dict[str, object] = {"side": 1, "quantity": 100, "price": "101.25"}
DEFAULTS: dict[str, object] = {
    "symbol": "ACME",
    "side": "buy",
    "order_type": "limit",
    "time_in_force": "GTC",
    "price": "101.25",
    "quantity": 100,
    "post_only": False,
    "client_order_id": None,
}


DROP = object()  # marker for with_(): remove the field


def with_(base: Mapping[str, object], **changes: object) -> dict[str, object]:
    """`base` with fields changed; a change to the marker DROP removes the field."""
    body = dict(base)
    for name, value in changes.items():
        if value is DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def values(*items: object) -> tuple[object, ...]:
    """A typed tuple of mixed test values (mypy cannot infer one from a literal mix)."""
    return items


def place_ok(body: object) -> PlaceOrder:
    result = parse_place(body, SYMBOLS)
    assert isinstance(result, PlaceOrder), result
    return result


def refused(result: object) -> ApiError:
    assert isinstance(result, ApiError), result
    return result


# --- place: accepted forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (BASE, {}),
        (with_(BASE, side=-1), {"side": "sell"}),
        (with_(BASE, side="buy"), {"side": "buy"}),
        (with_(BASE, side="sell"), {"side": "sell"}),
        # price forms: JSON numbers and plain decimal text, normalised, never rounded
        (with_(BASE, price=101.25), {}),
        (with_(BASE, price=Decimal("101.25")), {}),  # json.loads(parse_float=Decimal)
        (with_(BASE, price="101.10"), {"price": "101.1"}),
        (with_(BASE, price=101), {"price": "101"}),
        (with_(BASE, price="101.00"), {"price": "101"}),
        (with_(BASE, price="0100.5"), {"price": "100.5"}),
        (with_(BASE, price=0.01), {"price": "0.01"}),
        (with_(BASE, price=0.1), {"price": "0.1"}),  # the float 0.1 means the decimal 0.1
        (with_(BASE, price="1000000"), {"price": "1000000"}),  # the maximum itself
        (with_(BASE, price=1e6), {"price": "1000000"}),
        # symbols: default is the first configured; others by exact name
        (with_(BASE, symbol="ACME"), {}),
        (with_(BASE, symbol="QTR", price="99.75"), {"symbol": "QTR", "price": "99.75"}),
        (with_(BASE, symbol="QTR", price=1000), {"symbol": "QTR", "price": "1000"}),
        # type and time in force
        (with_(BASE, type="limit"), {}),
        (with_(BASE, type="market", price=DROP), {"order_type": "market", "price": None}),
        (with_(BASE, type="market", price=None), {"order_type": "market", "price": None}),
        (
            with_(BASE, type="market", price=DROP, time_in_force="FOK"),
            {"order_type": "market", "price": None, "time_in_force": "FOK"},
        ),
        (with_(BASE, time_in_force="GTC"), {}),
        (with_(BASE, time_in_force="IOC"), {"time_in_force": "IOC"}),
        (with_(BASE, time_in_force="FOK"), {"time_in_force": "FOK"}),
        # post-only: true needs a GTC limit; false goes with anything
        (with_(BASE, post_only=True), {"post_only": True}),
        (with_(BASE, post_only=False, time_in_force="IOC"), {"time_in_force": "IOC"}),
        # quantity bounds
        (with_(BASE, quantity=1), {"quantity": 1}),
        (with_(BASE, quantity=1_000_000_000), {"quantity": 1_000_000_000}),
        # client order ids
        (with_(BASE, client_order_id="my-order_1.a:b"), {"client_order_id": "my-order_1.a:b"}),
        (with_(BASE, client_order_id="c" * 64), {"client_order_id": "c" * 64}),
        # null is the same as absent for every optional field
        (
            with_(
                BASE,
                symbol=None,
                type=None,
                time_in_force=None,
                post_only=None,
                client_order_id=None,
            ),
            {},
        ),
    ],
)
def test_valid_place_requests(body: dict[str, object], expected: dict[str, object]) -> None:
    assert place_ok(body).model_dump() == DEFAULTS | expected


def test_the_default_symbol_is_the_first_configured() -> None:
    symbols = Settings(symbols="GLOBEX,ACME").symbols  # type: ignore[arg-type]
    order = parse_place(BASE, symbols)
    assert isinstance(order, PlaceOrder)
    assert order.symbol == "GLOBEX"


# --- place: refusals ---------------------------------------------------------------------

NON_OBJECTS: list[object] = [None, [], [BASE], "x", "", 1, 0, True, 1.5, float("nan")]


@pytest.mark.parametrize("body", NON_OBJECTS)
def test_a_body_that_is_not_an_object_is_refused(body: object) -> None:
    error = refused(parse_place(body, SYMBOLS))
    assert (error.code, error.field) == (E.INVALID_FIELD, None)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        # missing required fields (null counts as missing)
        ({}, E.MISSING_FIELD, "side"),
        ({"side": 1}, E.MISSING_FIELD, "quantity"),
        ({"quantity": 1, "price": 1}, E.MISSING_FIELD, "side"),
        (with_(BASE, side=None), E.MISSING_FIELD, "side"),
        (with_(BASE, quantity=None), E.MISSING_FIELD, "quantity"),
        # unknown fields, including typos and fields of other requests
        (with_(BASE, pirce=101), E.UNKNOWN_FIELD, "pirce"),
        (with_(BASE, price=DROP, pirce=101), E.UNKNOWN_FIELD, "pirce"),  # not "no price"
        ({"pirce": 101}, E.UNKNOWN_FIELD, "pirce"),  # unknown beats missing
        (with_(BASE, order_id="abc"), E.UNKNOWN_FIELD, "order_id"),
        (with_(BASE, updated_price=1), E.UNKNOWN_FIELD, "updated_price"),
        (with_(BASE, order_type="limit"), E.UNKNOWN_FIELD, "order_type"),  # the command's name
        (with_(BASE, Side=1), E.UNKNOWN_FIELD, "Side"),  # names are case-sensitive
        (with_(BASE, **{"": 1}), E.UNKNOWN_FIELD, ""),
        (with_(BASE, **{"x" * 100: 1}), E.UNKNOWN_FIELD, "x" * 40),  # echo clipped
        # side
        *(
            (with_(BASE, side=side), E.INVALID_SIDE, "side")
            for side in values(
                True,
                False,
                1.0,
                -1.0,
                "1",
                "-1",
                0,
                2,
                -2,
                "BUY",
                "Sell",
                " buy",
                "buy ",
                "",
                "b",
                [],
                {},
                [1],
            )
        ),
        # quantity: integers 1..1e9 only
        *(
            (with_(BASE, quantity=quantity), E.INVALID_QUANTITY, "quantity")
            for quantity in values(
                0,
                -1,
                1_000_000_001,
                10**19,  # 20 digits
                -(10**19),
                10**5000,  # too big even to print in Python 3.12
                1.5,
                10.0,  # a whole float is still a float
                1e3,
                float("nan"),
                float("inf"),
                "10",
                "",
                True,
                Decimal("10"),
                [],
                {},
                [10],
            )
        ),
        # price: invalid
        *(
            (with_(BASE, price=price), E.INVALID_PRICE, "price")
            for price in values(
                0,
                -1,
                0.0,
                -0.0,
                -0.01,
                "0",
                "0.00",
                "-1",
                "+1",
                1e309,  # json.loads turns it into inf
                float("inf"),
                float("-inf"),
                float("nan"),
                Decimal("NaN"),
                Decimal("sNaN"),
                Decimal("Infinity"),
                -(10**5000),
                "NaN",
                "Infinity",
                "abc",
                "",
                " ",
                " 101",
                "101 ",
                "1e2",
                "1E2",
                "1_000",
                "\u0661\u0660\u0660",  # Arabic-Indic 100: Decimal would take it
                ".5",
                "5.",
                "1,5",
                "0x10",
                "1" * 40,  # longer than any price
                True,
                False,
                [],
                {},
                [101],
                {"value": 101},
            )
        ),
        # price: above the symbol's maximum
        (with_(BASE, price="1000000.01"), E.PRICE_ABOVE_MAXIMUM, "price"),
        (with_(BASE, price=1000001), E.PRICE_ABOVE_MAXIMUM, "price"),
        (with_(BASE, price=1e16), E.PRICE_ABOVE_MAXIMUM, "price"),
        (with_(BASE, price=10**25), E.PRICE_ABOVE_MAXIMUM, "price"),
        (with_(BASE, price=10**5000), E.PRICE_ABOVE_MAXIMUM, "price"),
        (with_(BASE, price=Decimal("1e309")), E.PRICE_ABOVE_MAXIMUM, "price"),  # finite here
        (with_(BASE, symbol="QTR", price="1000.25"), E.PRICE_ABOVE_MAXIMUM, "price"),
        # price: off the tick, refused and never rounded
        (with_(BASE, price=100.005), E.PRICE_OFF_TICK, "price"),
        (with_(BASE, price="100.005"), E.PRICE_OFF_TICK, "price"),
        (with_(BASE, price=Decimal("100.005")), E.PRICE_OFF_TICK, "price"),
        (with_(BASE, price="100.0000000000000001"), E.PRICE_OFF_TICK, "price"),
        (with_(BASE, price=5e-324), E.PRICE_OFF_TICK, "price"),
        (with_(BASE, symbol="QTR", price="99.80"), E.PRICE_OFF_TICK, "price"),
        (with_(BASE, symbol="QTR", price=99.1), E.PRICE_OFF_TICK, "price"),
        # symbol
        (with_(BASE, symbol="NOPE"), E.UNKNOWN_SYMBOL, "symbol"),
        (with_(BASE, symbol="acme"), E.UNKNOWN_SYMBOL, "symbol"),  # exact spelling only
        (with_(BASE, symbol=" ACME"), E.UNKNOWN_SYMBOL, "symbol"),
        (with_(BASE, symbol=""), E.UNKNOWN_SYMBOL, "symbol"),
        (with_(BASE, symbol="A" * 1000), E.UNKNOWN_SYMBOL, "symbol"),
        (with_(BASE, symbol=1), E.INVALID_FIELD, "symbol"),
        (with_(BASE, symbol=["ACME"]), E.INVALID_FIELD, "symbol"),
        # type, and price against type
        (with_(BASE, type="LIMIT"), E.INVALID_FIELD, "type"),
        (with_(BASE, type="stop"), E.INVALID_FIELD, "type"),
        (with_(BASE, type=1), E.INVALID_FIELD, "type"),
        (with_(BASE, type=["limit"]), E.INVALID_FIELD, "type"),
        (with_(BASE, type="market"), E.MARKET_ORDER_WITH_PRICE, "price"),
        (with_(BASE, type="market", price="abc"), E.MARKET_ORDER_WITH_PRICE, "price"),
        (with_(BASE, price=DROP), E.LIMIT_ORDER_WITHOUT_PRICE, "price"),
        (with_(BASE, price=None), E.LIMIT_ORDER_WITHOUT_PRICE, "price"),
        (with_(BASE, type="limit", price=DROP), E.LIMIT_ORDER_WITHOUT_PRICE, "price"),
        # time in force
        (with_(BASE, time_in_force="gtc"), E.INVALID_FIELD, "time_in_force"),
        (with_(BASE, time_in_force="DAY"), E.INVALID_FIELD, "time_in_force"),
        (with_(BASE, time_in_force=1), E.INVALID_FIELD, "time_in_force"),
        # post-only: a bool, and only on a GTC limit order
        (with_(BASE, post_only=1), E.INVALID_FIELD, "post_only"),
        (with_(BASE, post_only="true"), E.INVALID_FIELD, "post_only"),
        (with_(BASE, post_only=True, time_in_force="IOC"), E.INVALID_POST_ONLY, "post_only"),
        (with_(BASE, post_only=True, time_in_force="FOK"), E.INVALID_POST_ONLY, "post_only"),
        (
            with_(BASE, post_only=True, type="market", price=DROP),
            E.INVALID_POST_ONLY,
            "post_only",
        ),
        # client order id
        *(
            (with_(BASE, client_order_id=value), E.INVALID_FIELD, "client_order_id")
            for value in ("", "c" * 65, "has space", "slash/no", "é", "a\nb", 5, True, ["x"])
        ),
    ],
)
def test_invalid_place_requests(body: dict[str, object], code: ErrorCode, field: str) -> None:
    error = refused(parse_place(body, SYMBOLS))
    assert (error.code, error.field) == (code, field)
    assert error.status == 400


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        ('{"side": 1, "quantity": 1, "price": 1e309}', E.INVALID_PRICE, "price"),
        ('{"side": 1, "quantity": 1, "price": NaN}', E.INVALID_PRICE, "price"),
        ('{"side": 1, "quantity": 1, "price": -Infinity}', E.INVALID_PRICE, "price"),
        ('{"side": 1, "quantity": 1, "price": 0}', E.INVALID_PRICE, "price"),
        ('{"side": 1, "quantity": 1, "price": -1}', E.INVALID_PRICE, "price"),
        ('{"side": 1, "quantity": 1, "price": "abc"}', E.INVALID_PRICE, "price"),
        ('{"side": 1, "quantity": 1, "price": 100.005}', E.PRICE_OFF_TICK, "price"),
        (
            '{"side": 1, "quantity": 12345678901234567890, "price": 1}',  # 20 digits
            E.INVALID_QUANTITY,
            "quantity",
        ),
        ('{"side": 1, "quantity": 10.0, "price": 1}', E.INVALID_QUANTITY, "quantity"),
        ('{"side": true, "quantity": 1, "price": 1}', E.INVALID_SIDE, "side"),
        ('{"side": 1, "quantity": 1}', E.LIMIT_ORDER_WITHOUT_PRICE, "price"),
        ('{"side": 1, "quantity": 1, "price": 1, "extra": 1}', E.UNKNOWN_FIELD, "extra"),
        ("[]", E.INVALID_FIELD, None),
        ("null", E.INVALID_FIELD, None),
        ('"buy"', E.INVALID_FIELD, None),
    ],
)
@pytest.mark.parametrize("parse_float", [float, Decimal])
def test_hostile_json_as_the_api_decodes_it(
    text: str, code: ErrorCode, field: str | None, parse_float: type[float] | type[Decimal]
) -> None:
    """The same refusals whether the API decodes fractions as floats or as Decimals
    (except 1e309, which only a float decoder turns into inf)."""
    if parse_float is Decimal and "1e309" in text:
        code = E.PRICE_ABOVE_MAXIMUM
    error = refused(parse_place(json.loads(text, parse_float=parse_float), SYMBOLS))
    assert (error.code, error.field) == (code, field)


def test_an_unknown_field_refuses_an_otherwise_valid_order() -> None:
    """A typo must never place an order, even when the order would be valid without it."""
    error = refused(parse_place(with_(BASE, pirce=99, clientOrderId="x"), SYMBOLS))
    assert (error.code, error.field) == (E.UNKNOWN_FIELD, "pirce")
    assert "pirce" in error.message


def test_a_quantity_precision_loss_is_not_papered_over() -> None:
    """100.0000000000000001 decodes to the float 100.0 by default: only a Decimal decoder
    keeps the digits that make it off tick, and then it is refused."""
    text = '{"side": 1, "quantity": 1, "price": 100.0000000000000001}'
    error = refused(parse_place(json.loads(text, parse_float=Decimal), SYMBOLS))
    assert error.code == E.PRICE_OFF_TICK


# --- messages never echo much of the input -----------------------------------------------

LONG = "Z" * 30 + "<script>" + "Y" * 300


def _runs(text: str, size: int = 41) -> Iterator[str]:
    return (text[i : i + size] for i in range(len(text) - size + 1))


@pytest.mark.parametrize(
    "body",
    [
        {LONG: 1},
        with_(BASE, side=LONG),
        with_(BASE, quantity=LONG),
        with_(BASE, price=LONG),
        with_(BASE, price="1" * 31 + ".5"),
        with_(BASE, price=float("1" * 300)),
        with_(BASE, symbol=LONG),
        with_(BASE, type=LONG),
        with_(BASE, time_in_force=LONG),
        with_(BASE, post_only=LONG),
        with_(BASE, client_order_id=LONG),
    ],
)
def test_messages_are_short_and_echo_at_most_40_characters(body: dict[str, object]) -> None:
    error = refused(parse_place(body, SYMBOLS))
    assert len(error.message) <= 100
    for text in [*map(str, body), *map(str, body.values())]:
        assert not any(run in error.message for run in _runs(text))
    assert error.field is None or len(error.field) <= 40


# --- ApiError ----------------------------------------------------------------------------


def test_api_error_body_is_the_design_shape() -> None:
    error = refused(parse_place(with_(BASE, price="100.005"), SYMBOLS))
    body = error.body()
    assert body == {
        "success": False,
        "error": {"code": "price_off_tick", "message": error.message, "field": "price"},
    }
    assert json.loads(json.dumps(body)) == body  # plain JSON: the code is a str on the wire
    assert error.status == 400


def test_api_error_defaults_to_the_vocabulary_message() -> None:
    error = ApiError.of(E.NOTHING_TO_MODIFY)
    assert error == ApiError(E.NOTHING_TO_MODIFY, "give a new price or quantity", None)
    assert ApiError.of(E.UNKNOWN_ORDER).status == 404
    assert ApiError.of(E.UNKNOWN_FIELD, "f" * 99).field == "f" * 40
    with pytest.raises(AttributeError):
        error.code = E.INVALID_FIELD  # type: ignore[misc]


# --- modify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "price", "quantity"),
    [
        ({"updated_price": "101.10"}, "101.1", None),
        ({"price": 101.1}, "101.1", None),  # alias
        ({"updated_quantity": 50}, None, 50),
        ({"quantity": 50}, None, 50),  # alias
        ({"updated_price": 99, "updated_quantity": 1}, "99", 1),
        ({"price": "99", "updated_quantity": 1_000_000_000}, "99", 1_000_000_000),
        ({"updated_price": "99", "quantity": 7}, "99", 7),
        ({"updated_price": "99", "price": None}, "99", None),  # null is absent: no clash
    ],
)
def test_valid_modify_requests(body: object, price: str | None, quantity: int | None) -> None:
    result = parse_modify(body, ACME)
    assert isinstance(result, ModifyOrder), result
    assert result.model_dump() == {
        "symbol": "ACME",
        "price": price,
        "quantity": quantity,
        "order_id": None,
    }


def test_modify_with_order_id_in_the_body_when_the_route_says_so() -> None:
    result = parse_modify({"order_id": "ord-1", "price": "99.75"}, QTR, allow_order_id=True)
    assert isinstance(result, ModifyOrder), result
    assert (result.order_id, result.symbol, result.price) == ("ord-1", "QTR", "99.75")


@pytest.mark.parametrize(
    ("body", "allow_order_id", "code", "field"),
    [
        ({}, False, E.NOTHING_TO_MODIFY, None),
        ({"updated_price": None, "quantity": None}, False, E.NOTHING_TO_MODIFY, None),
        ({"order_id": "o1"}, True, E.NOTHING_TO_MODIFY, None),
        ({"updated_price": 1, "price": 2}, False, E.INVALID_FIELD, "price"),
        ({"updated_quantity": 1, "quantity": 2}, False, E.INVALID_FIELD, "quantity"),
        ({"updated_price": 1, "price": 1}, False, E.INVALID_FIELD, "price"),  # even if equal
        ({"order_id": "o1", "price": 1}, False, E.UNKNOWN_FIELD, "order_id"),
        ({"price": 1}, True, E.MISSING_FIELD, "order_id"),
        ({"order_id": None, "price": 1}, True, E.MISSING_FIELD, "order_id"),
        ({"order_id": "", "price": 1}, True, E.INVALID_ORDER_ID, "order_id"),
        ({"order_id": "a b", "price": 1}, True, E.INVALID_ORDER_ID, "order_id"),
        ({"order_id": "o" * 65, "price": 1}, True, E.INVALID_ORDER_ID, "order_id"),
        ({"order_id": 12, "price": 1}, True, E.INVALID_ORDER_ID, "order_id"),
        ({"updated_price": "100.005"}, False, E.PRICE_OFF_TICK, "updated_price"),
        ({"price": "100.005"}, False, E.PRICE_OFF_TICK, "price"),
        ({"price": 0}, False, E.INVALID_PRICE, "price"),
        ({"updated_price": "abc"}, False, E.INVALID_PRICE, "updated_price"),
        ({"updated_price": float("nan")}, False, E.INVALID_PRICE, "updated_price"),
        ({"updated_price": 2_000_000}, False, E.PRICE_ABOVE_MAXIMUM, "updated_price"),
        ({"updated_quantity": 0}, False, E.INVALID_QUANTITY, "updated_quantity"),
        ({"quantity": 1.5}, False, E.INVALID_QUANTITY, "quantity"),
        ({"quantity": "5"}, False, E.INVALID_QUANTITY, "quantity"),
        ({"updated_quantity": 10**19}, False, E.INVALID_QUANTITY, "updated_quantity"),
        ({"updated_price": 1, "side": 1}, False, E.UNKNOWN_FIELD, "side"),
        ({"updated_prise": 1}, False, E.UNKNOWN_FIELD, "updated_prise"),
        ([], False, E.INVALID_FIELD, None),
        (None, True, E.INVALID_FIELD, None),
        ("price=1", False, E.INVALID_FIELD, None),
    ],
)
def test_invalid_modify_requests(
    body: object, allow_order_id: bool, code: ErrorCode, field: str | None
) -> None:
    error = refused(parse_modify(body, ACME, allow_order_id=allow_order_id))
    assert (error.code, error.field) == (code, field)
    assert error.status == 400


@pytest.mark.parametrize("order_id", ["a", "A-z_0.9:x", "o" * 64, "6541c2f0e5b1a3d4c5e6f708"])
def test_valid_order_ids(order_id: str) -> None:
    assert parse_order_id(order_id) == order_id


@pytest.mark.parametrize("order_id", ["", "o" * 65, "a/b", "a b", "é", "a\n", None, 1, ["a"]])
def test_invalid_order_ids(order_id: object) -> None:
    error = refused(parse_order_id(order_id, "id"))
    assert (error.code, error.field) == (E.INVALID_ORDER_ID, "id")


# --- list queries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kind", "expected"),
    [
        ({}, "orders", {"limit": 100}),
        ({}, "trades", {"limit": 100}),
        ({"limit": "1"}, "orders", {"limit": 1}),
        ({"limit": "1000"}, "trades", {"limit": 1000}),
        ({"limit": "050"}, "orders", {"limit": 50}),
        ({"limit": "", "cursor": "", "symbol": ""}, "orders", {"limit": 100}),  # empty = absent
        ({"cursor": "eyJ0IjoxfQ=="}, "orders", {"cursor": "eyJ0IjoxfQ=="}),
        ({"cursor": "c" * 200}, "trades", {"cursor": "c" * 200}),
        ({"symbol": "ACME"}, "orders", {"symbol": "ACME"}),
        ({"symbol": "QTR"}, "trades", {"symbol": "QTR"}),
        *(({"status": s}, "orders", {"status": s}) for s in ("pending", "open", "filled")),
        ({"status": "partially_filled"}, "orders", {"status": "partially_filled"}),
        ({"status": "cancelled"}, "orders", {"status": "cancelled"}),
        ({"status": "rejected"}, "orders", {"status": "rejected"}),
        ({"side": "buy"}, "orders", {"side": "buy"}),
        ({"side": "sell", "limit": "5"}, "orders", {"side": "sell", "limit": 5}),
        ({"order_id": "ord-1"}, "trades", {"order_id": "ord-1"}),
        ({"after_sequence": "0"}, "trades", {"after_sequence": 0}),
        (
            {"after_sequence": "123456789012345678"},
            "trades",
            {"after_sequence": 123456789012345678},
        ),
    ],
)
def test_valid_list_queries(
    args: dict[str, str], kind: Literal["orders", "trades"], expected: dict[str, object]
) -> None:
    result = parse_list_query(args, kind, SYMBOLS)
    assert isinstance(result, ListQuery), result
    nothing = {"cursor": None, "symbol": None, "status": None, "side": None, "order_id": None,
               "after_sequence": None}  # fmt: skip
    assert result.model_dump() == {"kind": kind, "limit": 100} | nothing | expected


@pytest.mark.parametrize(
    ("args", "kind", "code", "field"),
    [
        *(
            ({"limit": limit}, "orders", E.INVALID_LIMIT, "limit")
            for limit in ("0", "1001", "10000", "-1", "+5", " 5", "5 ", "1.5", "1e2", "abc")
        ),
        ({"limit": "\u0661"}, "orders", E.INVALID_LIMIT, "limit"),  # Arabic-Indic 1
        ({"limit": "9" * 30}, "trades", E.INVALID_LIMIT, "limit"),
        ({"cursor": "c" * 201}, "orders", E.INVALID_CURSOR, "cursor"),
        ({"cursor": "has space"}, "orders", E.INVALID_CURSOR, "cursor"),
        ({"cursor": "tab\there"}, "trades", E.INVALID_CURSOR, "cursor"),
        ({"cursor": "é"}, "trades", E.INVALID_CURSOR, "cursor"),
        ({"symbol": "NOPE"}, "orders", E.UNKNOWN_SYMBOL, "symbol"),
        ({"symbol": "acme"}, "trades", E.UNKNOWN_SYMBOL, "symbol"),
        ({"symbol": "A" * 17}, "trades", E.UNKNOWN_SYMBOL, "symbol"),
        ({"status": "OPEN"}, "orders", E.INVALID_FIELD, "status"),
        ({"status": "alive"}, "orders", E.INVALID_FIELD, "status"),
        ({"side": "1"}, "orders", E.INVALID_SIDE, "side"),
        ({"side": "BUY"}, "orders", E.INVALID_SIDE, "side"),
        ({"order_id": "a b"}, "trades", E.INVALID_ORDER_ID, "order_id"),
        ({"order_id": "o" * 65}, "trades", E.INVALID_ORDER_ID, "order_id"),
        *(
            ({"after_sequence": text}, "trades", E.INVALID_FIELD, "after_sequence")
            for text in ("-1", "1.0", "1e3", "x", "9" * 19, " 1")
        ),
        ({"after_sequence": "5"}, "orders", E.UNKNOWN_FIELD, "after_sequence"),
        # each list takes only its own filters
        ({"status": "open"}, "trades", E.UNKNOWN_FIELD, "status"),
        ({"side": "buy"}, "trades", E.UNKNOWN_FIELD, "side"),
        ({"order_id": "o1"}, "orders", E.UNKNOWN_FIELD, "order_id"),
        ({"page": "2"}, "orders", E.UNKNOWN_FIELD, "page"),
        ({"Limit": "2"}, "trades", E.UNKNOWN_FIELD, "Limit"),
        ({"limit": "5", "offset": "10"}, "trades", E.UNKNOWN_FIELD, "offset"),
    ],
)
def test_invalid_list_queries(
    args: dict[str, str], kind: Literal["orders", "trades"], code: ErrorCode, field: str
) -> None:
    error = refused(parse_list_query(args, kind, SYMBOLS))
    assert (error.code, error.field) == (code, field)
    assert error.status == 400


def test_list_symbol_without_configuration_is_checked_for_shape_only() -> None:
    result = parse_list_query({"symbol": "ANY.SYM-1"}, "trades")
    assert isinstance(result, ListQuery) and result.symbol == "ANY.SYM-1"
    error = refused(parse_list_query({"symbol": "not a symbol"}, "trades"))
    assert error.code == E.UNKNOWN_SYMBOL


# --- to the queue ------------------------------------------------------------------------

IDS: dict[str, Any] = {
    "command_id": "cmd-1",
    "order_id": "ord-1",
    "account": "alice",
    "received_at": 1_764_063_000_123,
}


@pytest.mark.parametrize(
    "body",
    [
        BASE,
        with_(BASE, side="sell", price=0.1, client_order_id="mine-1", post_only=True),
        with_(BASE, symbol="QTR", price="99.75", time_in_force="IOC"),
        with_(BASE, type="market", price=DROP, time_in_force="FOK", quantity=1_000_000_000),
    ],
)
def test_a_place_becomes_a_command_that_round_trips(body: dict[str, object]) -> None:
    order = place_ok(body)
    command = to_command(order, **IDS)
    assert isinstance(command, PlaceCommand)
    assert parse_command(dump_command(command)) == command
    fields = msgspec.structs.asdict(command) | {"type": command.type}
    assert fields == order.model_dump() | IDS | {"type": "place"}


def test_the_command_price_is_exact_decimal_text() -> None:
    command = to_command(place_ok(with_(BASE, price=101.1)), **IDS)
    assert command.price == "101.1"  # never "101.09999999999999"
    assert '"price":"101.1"' in dump_command(command)


def test_a_modify_becomes_a_command_that_round_trips() -> None:
    modify = parse_modify({"updated_price": "99.50", "quantity": 40}, QTR)
    assert isinstance(modify, ModifyOrder)
    command = to_command(modify, **IDS)
    assert isinstance(command, ModifyCommand)
    assert parse_command(dump_command(command)) == command
    assert (command.symbol, command.price, command.quantity) == ("QTR", "99.5", 40)


def test_a_modify_body_naming_another_order_is_a_programming_error() -> None:
    modify = parse_modify({"order_id": "other", "quantity": 1}, ACME, allow_order_id=True)
    assert isinstance(modify, ModifyOrder)
    with pytest.raises(ValueError, match="another order"):
        to_command(modify, **IDS)
    assert to_command(modify, **(IDS | {"order_id": "other"})).order_id == "other"


# --- properties --------------------------------------------------------------------------

# Built by map(): hypothesis cannot even repr a 5,000-digit int in a sampled_from.
HUGE = st.builds(
    lambda exponent, sign: sign * 10**exponent,
    st.sampled_from([19, 20, 400, 5000]),
    st.sampled_from([1, -1]),
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE
    | st.floats()  # nan and +-inf included
    | st.text(max_size=60)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=25,
)
HOSTILE = st.one_of(
    JSON,
    st.sampled_from(values(0, -1, 100.005, "100.005", 1e309, "NaN", "abc", 10.0, True, "BUY")),
)
GOOD: dict[str, tuple[object, ...]] = {
    "side": values(1, -1, "buy", "sell"),
    "quantity": values(1, 100, 1_000_000_000),
    "price": values("101.25", 101.25, 1, "0.25", 1000),
    "symbol": values("ACME", "QTR"),
    "type": values("limit", "market"),
    "time_in_force": values("GTC", "IOC", "FOK"),
    "post_only": values(True, False),
    "client_order_id": values(
        "c-1",
    ),
    "order_id": values(
        "ord-1",
    ),
}
GOOD |= {"updated_price": GOOD["price"], "updated_quantity": GOOD["quantity"]}


def bodies(required: list[str], optional: list[str]) -> st.SearchStrategy[dict[str, object]]:
    """Objects with these field names, each value mostly valid and otherwise hostile, and
    one time in three a typo'd extra field: an arbitrary dict nearly always stops at its
    first unknown key, so the deeper checks would otherwise see little of the hostile
    values."""

    def value(name: str) -> st.SearchStrategy[object]:
        good = st.sampled_from(GOOD[name])
        # one_of() would not weigh a repeated branch: pick hostile one time in five
        return st.integers(0, 4).flatmap(lambda pick: HOSTILE if pick == 0 else good)

    known = st.fixed_dictionaries(
        {name: value(name) for name in required},
        optional={name: value(name) for name in optional},
    )
    extra = st.dictionaries(st.sampled_from(["pirce", "Side", ""]), HOSTILE, max_size=1)
    return st.builds(lambda a, b: a | b, known, st.one_of(st.just({}), st.just({}), extra))


PLACE_FIELDS = ["symbol", "type", "price", "time_in_force", "post_only", "client_order_id"]
PLACE_BODIES = bodies(["side", "quantity"], PLACE_FIELDS)
MODIFY_BODIES = bodies([], ["updated_price", "price", "updated_quantity", "quantity", "order_id"])


def _valid_or_4xx(result: object, model: type[object]) -> None:
    if isinstance(result, ApiError):
        assert 400 <= result.status < 500
        assert result.code in KINDS
        json.dumps(result.body(), allow_nan=False)
    else:
        assert isinstance(result, model), result


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON | PLACE_BODIES)
def test_no_json_value_makes_parse_place_raise(body: object) -> None:
    _valid_or_4xx(parse_place(body, SYMBOLS), PlaceOrder)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON | MODIFY_BODIES, allow_order_id=st.booleans(), spec=st.sampled_from(SYMBOLS))
def test_no_json_value_makes_parse_modify_raise(
    body: object, allow_order_id: bool, spec: SymbolSpec
) -> None:
    _valid_or_4xx(parse_modify(body, spec, allow_order_id=allow_order_id), ModifyOrder)


QUERY_NAMES = st.sampled_from(["limit", "cursor", "symbol", "status", "side", "order_id"])


@settings(max_examples=300)
@given(
    args=st.dictionaries(QUERY_NAMES | st.text(max_size=10), st.text(max_size=300), max_size=6),
    kind=st.sampled_from(["orders", "trades"]),
)
def test_no_query_string_makes_the_list_parser_raise(
    args: dict[str, str], kind: Literal["orders", "trades"]
) -> None:
    _valid_or_4xx(parse_list_query(args, kind, SYMBOLS), ListQuery)


_PLAIN_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")


@given(
    ticks=st.integers(1, 100_000_000),
    as_text=st.booleans(),
    quantity=st.integers(1, 1_000_000_000),
)
def test_every_on_tick_price_is_accepted_and_kept_exact(
    ticks: int, as_text: bool, quantity: int
) -> None:
    exact = Decimal(ticks) / 100
    price: object = f"{exact:.2f}" if as_text else float(exact)
    order = place_ok({"side": "sell", "quantity": quantity, "price": price})
    assert order.price is not None
    assert Decimal(order.price) == exact
    assert _PLAIN_DECIMAL.fullmatch(order.price)  # plain, normalised: no exponent, no 0 tail
    assert order.quantity == quantity
