"""Exact prices: integer ticks inside, off-tick prices refused (never rounded), numbers on
the wire without float artefacts, averages rounded half-even to 6 places (DESIGN §2).

Expected values are worked out by hand from the rules, not read off the code."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.config import SymbolSpec
from lib.prices import (
    PriceError,
    average_price,
    decimal_to_ticks,
    from_ticks,
    parse_price,
    to_json_number,
    to_ticks,
)

CENT = SymbolSpec("ACME", Decimal("0.01"), Decimal("1000000"))
QUARTER = SymbolSpec("QTR", Decimal("0.25"), Decimal("1000"))
WHOLE = SymbolSpec("WHL", Decimal("5"), Decimal("1000"))


@pytest.mark.parametrize(
    ("price", "spec", "ticks"),
    [
        ("101.25", CENT, 10125),
        (101.25, CENT, 10125),
        (101, CENT, 10100),
        ("101.2500", CENT, 10125),  # trailing zeros are the same price
        ("0.01", CENT, 1),
        ("1000000", CENT, 100_000_000),  # the maximum itself
        (0.1, CENT, 10),  # the float 0.1 means the decimal 0.1, not 0.1000000000000000055
        ("99.75", QUARTER, 399),
        ("15", WHOLE, 3),
    ],
)
def test_on_tick_prices_become_exact_ticks(price: object, spec: SymbolSpec, ticks: int) -> None:
    assert to_ticks(price, spec) == ticks


@pytest.mark.parametrize(
    ("price", "spec", "code"),
    [
        ("100.005", CENT, "price_off_tick"),  # refused, never rounded to 100.00 or 100.01
        (100.001, CENT, "price_off_tick"),
        ("99.80", QUARTER, "price_off_tick"),
        ("12", WHOLE, "price_off_tick"),
        ("0", CENT, "invalid_price"),
        (-1, CENT, "invalid_price"),
        ("1000000.01", CENT, "price_above_maximum"),
        (1e309, CENT, "invalid_price"),  # inf
        ("NaN", CENT, "invalid_price"),
        ("abc", CENT, "invalid_price"),
        ("", CENT, "invalid_price"),
        (True, CENT, "invalid_price"),  # a bool is not a number here
        (None, CENT, "invalid_price"),
        ("1" * 40, CENT, "invalid_price"),  # bounded text: no giant Decimal work
    ],
)
def test_bad_prices_are_refused_with_a_code(price: object, spec: SymbolSpec, code: str) -> None:
    with pytest.raises(PriceError) as refused:
        to_ticks(price, spec)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("ticks", "spec", "text", "number"),
    [
        (10110, CENT, "101.1", 101.1),  # normalised: 101.10 -> 101.1
        (10100, CENT, "101", 101),  # an integral price is an int on the wire
        (1, CENT, "0.01", 0.01),
        (399, QUARTER, "99.75", 99.75),
        (3, WHOLE, "15", 15),
    ],
)
def test_ticks_back_to_exact_decimals_and_json_numbers(
    ticks: int, spec: SymbolSpec, text: str, number: float
) -> None:
    price = from_ticks(ticks, spec)
    assert price == Decimal(text) and str(price) == text
    assert to_json_number(price) == number
    assert type(to_json_number(price)) is type(number)


@pytest.mark.parametrize(
    ("notional_ticks", "quantity", "expected"),
    [
        (10125 * 40, 40, "101.25"),
        (10000 + 10001, 2, "100.005"),  # (100.00 + 100.01) / 2: exact, no rounding needed
        (100 + 100 + 101, 3, "1.003333"),  # 3.01 / 3 = 1.00333...: 6 places
        (1, 8, "0.00125"),
        (1, 16_000_000, "0"),  # 0.000000000625 -> half-even to 6 places is 0.000000
        (500, 10_000_000, "0"),  # 5.00 / 1e7 = exactly 0.0000005: half-even to the even 0
        (1500, 10_000_000, "0.000002"),  # 15.00 / 1e7 = exactly 0.0000015: half-even to 2
        (2500, 10_000_000, "0.000002"),  # exactly 0.0000025: half-even to 2, not 3
    ],
)
def test_average_price_rounds_half_even_to_six_places(
    notional_ticks: int, quantity: int, expected: str
) -> None:
    assert average_price(notional_ticks, quantity, CENT) == Decimal(expected)


def test_no_average_before_a_fill() -> None:
    assert average_price(0, 0, CENT) is None


@given(st.integers(1, 100_000_000))
def test_every_tick_round_trips_through_the_wire(ticks: int) -> None:
    number = to_json_number(from_ticks(ticks, CENT))
    assert to_ticks(number, CENT) == ticks
    assert to_ticks(repr(number), CENT) == ticks


def test_parse_price_keeps_the_decimal_of_a_float() -> None:
    assert parse_price(101.1) == Decimal("101.1")


# --- to_ticks (which remembers converted prices) against Decimal alone -------------------

ODD = SymbolSpec("ODD", Decimal("0.05"), Decimal("999.95"))
FINE = SymbolSpec("FINE", Decimal("0.00000001"), Decimal("1000"))
COARSE = SymbolSpec("CRS", Decimal("10"), Decimal("1E+6"))
LOOSE = SymbolSpec("LSE", Decimal("0.01"), Decimal("100.005"))  # maximum off tick
BIG = SymbolSpec("BIG", Decimal("1E+20"), Decimal("1E+40"))  # ints longer than the text bound
SPECS = [CENT, QUARTER, WHOLE, ODD, FINE, COARSE, LOOSE, BIG]
DIGITS = st.text("0123456789", min_size=1, max_size=12)
PRICE_TEXTS = st.one_of(
    st.builds(lambda w, f: f"{w}.{f}", DIGITS, DIGITS),  # plain decimals, on tick or not
    DIGITS,
    st.builds(lambda w, f: f"{w}.{f}", DIGITS, st.text("0", max_size=30)),  # trailing zeros
    st.decimals(allow_nan=True, allow_infinity=True).map(str),  # exponents, signs, NaN
    st.text(" +-.eE0123456789_\u0661\u00b2", max_size=40),  # odd characters
    st.sampled_from(["100.", ".5", "0", "0.00", "1" * 32, "1" * 33, "0" * 31 + "1", " 1"]),
)
PRICES = st.one_of(
    PRICE_TEXTS,
    st.integers(-(10**40), 10**40),
    st.integers(-3, 10**9),
    st.integers(1, 10**20).map(lambda n: n * 10**20),
    st.floats(),
    st.booleans(),
)


def ticks_or_error(convert: Callable[[object, SymbolSpec], int], price: object,
                   spec: SymbolSpec) -> object:  # fmt: skip
    try:
        return convert(price, spec)
    except PriceError as refused:
        return (refused.code, str(refused))


@settings(max_examples=3000, deadline=None, database=None)
@given(price=PRICES, spec=st.sampled_from(SPECS))
def test_remembered_prices_agree_with_decimal(price: object, spec: SymbolSpec) -> None:
    """Same ticks, or the same refusal (code and message), as Decimal alone; twice, so
    that remembered prices are checked too."""
    expected = ticks_or_error(decimal_to_ticks, price, spec)
    assert ticks_or_error(to_ticks, price, spec) == expected
    assert ticks_or_error(to_ticks, price, spec) == expected


@given(st.integers(1, 100_000_000), st.integers(0, 6))
def test_on_tick_prices_with_trailing_zeros(ticks: int, zeros: int) -> None:
    text = format(from_ticks(ticks, CENT), "f")
    padded = text + ("." if "." not in text and zeros else "") + "0" * zeros
    assert to_ticks(padded, CENT) == ticks == decimal_to_ticks(padded, CENT)
