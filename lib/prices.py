"""Exact prices: decimal text or JSON numbers in, integer ticks inside, JSON numbers out.

A price that is not an exact multiple of the symbol's tick is refused, never rounded:
`100.005` with a tick of 0.01 is an error, not `100.00` or `100.01`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from lib.config import SymbolSpec
from lib.errors import ErrorCode

MAX_PRICE_TEXT = 32  # characters: bounds the work Decimal does on hostile input


class PriceError(ValueError):
    """`code` is the machine-readable error code the API returns."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_price(value: object) -> Decimal:
    """A JSON number or decimal string as an exact Decimal; bools and floats' repr quirks out."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PriceError(ErrorCode.INVALID_PRICE, "price must be a number or a decimal string")
    text = (
        value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    )
    text = text.strip()
    if not text or len(text) > MAX_PRICE_TEXT:
        raise PriceError(ErrorCode.INVALID_PRICE, "price must be a short decimal number")
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise PriceError(ErrorCode.INVALID_PRICE, f"{text!r} is not a decimal number") from None
    if not price.is_finite():
        raise PriceError(ErrorCode.INVALID_PRICE, "price must be finite")
    return price


def to_ticks(value: object, spec: SymbolSpec) -> int:
    """Integer ticks of `spec` for a price, or PriceError (invalid, off tick, out of range).

    A text or int price is remembered with its ticks: the matcher converts every command's
    price, and a book's prices repeat (Decimal costs about 1 µs a conversion). A refusal
    is an exception, which the cache never keeps, so errors are always worked out anew."""
    kind = type(value)
    if kind is str or kind is int:
        return _remembered_ticks(value, spec)
    return decimal_to_ticks(value, spec)


@lru_cache(maxsize=1 << 16)
def _remembered_ticks(value: str | int, spec: SymbolSpec) -> int:
    return decimal_to_ticks(value, spec)


def decimal_to_ticks(value: object, spec: SymbolSpec) -> int:
    """`to_ticks` by `Decimal` alone: the reference its fast path must agree with."""
    price = parse_price(value)
    if price <= 0:
        raise PriceError(ErrorCode.INVALID_PRICE, "price must be greater than 0")
    if price > spec.max_price:
        raise PriceError(ErrorCode.PRICE_ABOVE_MAXIMUM, f"price must be at most {spec.max_price}")
    ticks, remainder = divmod(price, spec.tick_size)
    if remainder != 0:
        raise PriceError(
            ErrorCode.PRICE_OFF_TICK,
            f"price {price} is not a multiple of the tick size {spec.tick_size}",
        )
    return int(ticks)


def from_ticks(ticks: int, spec: SymbolSpec) -> Decimal:
    """The exact decimal price of `ticks`, normalised (101.10 -> 101.1)."""
    return _normal(ticks * spec.tick_size)


def to_json_number(value: Decimal) -> int | float:
    """A JSON-ready number with no float artefacts: 101.1 prints as 101.1.

    float(Decimal) picks the float nearest to the exact decimal, and Python's repr of that
    float is the shortest text that round-trips, which is the decimal itself for any price
    of up to 15 significant digits (prices here are ≤ 1e6 with tick ≥ 1e-8).
    """
    normal = _normal(value)
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(normal)
    return float(normal)


def average_price(notional_ticks: int, quantity: int, spec: SymbolSpec) -> Decimal | None:
    """Traded notional / quantity, rounded half-even to 6 decimal places (DESIGN §2)."""
    if quantity <= 0:
        return None
    exact = Decimal(notional_ticks) * spec.tick_size / Decimal(quantity)
    return _normal(exact.quantize(Decimal("0.000001")))


def _normal(value: Decimal) -> Decimal:
    normal = value.normalize()
    # normalize() turns 100 into 1E+2; bring integral values back to plain digits.
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return normal.quantize(Decimal(1))
    return normal
