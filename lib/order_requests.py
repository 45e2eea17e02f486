"""Validate what a client sends (DESIGN §2) before anything is queued. Pure: no I/O.

Each `parse_*` function takes an already-decoded JSON value (or a query-string mapping) and
returns either a frozen model holding exactly what the command needs, or an `ApiError` with
one code of lib.errors and the offending `field`. They never raise, whatever the input:
an exception here would be a 500 for bad input, which DESIGN §2 forbids.

Why so strict: an order is money. Anything that could mean two things is refused with a
code that says what to send, rather than guessed at. The decisions, field by field:

- Unknown fields are refused (`unknown_field`, `field` set) before anything else, even when
  the rest is valid: a typo such as `pirce` must never place an order at some other price.
- `null` counts as absent for every field. A client that serialises its whole order object
  (`"client_order_id": null`, `"price": null` on a market order) means "not given".
- `side`: the JSON integers `1` (buy) and `-1` (sell), or the exact strings `"buy"` and
  `"sell"`. Refused (`invalid_side`): `true` (a bool is not the integer 1 here), `1.0`
  (a float), `"1"` (a string of a number), `"BUY"`/`"Buy"` (enums are case-sensitive, as in
  most brokerage APIs: one spelling per value), and anything padded with spaces.
- `quantity`: a JSON integer, 1 <= q <= 1,000,000,000. Refused (`invalid_quantity`): bools,
  every float including `10.0` (a whole-valued float only arises from a client computing
  quantities in floating point, where 9.999999 is one bug away), strings such as `"10"`,
  and numbers of any size beyond the bound (compared as integers, never converted).
- `price` (and a modify's `updated_price`): a JSON number or a plain decimal string
  (`"101.25"`, ASCII digits with an optional fraction, at most 32 characters). Refused as
  `invalid_price`: bools, `0`, negatives, infinities (`1e309` decodes to inf), NaN,
  exponent strings (`"1e2"`), signs, spaces, underscores, non-ASCII digits, `".5"`/`"5."`.
  Above the symbol's maximum: `price_above_maximum`. Not an exact multiple of the tick:
  `price_off_tick` (never rounded). The command carries the normalised decimal text in plain
  notation (`"101.10"` -> `"101.1"`). A `decimal.Decimal` value is accepted like a JSON
  number, so the API may decode bodies with `json.loads(..., parse_float=Decimal)` to keep
  digits a float would lose (`100.0000000000000001`); a Decimal quantity is refused like a
  float.
- `symbol`: optional (default: the first configured symbol), the exact configured spelling;
  a string that is not configured is `unknown_symbol`, a non-string `invalid_field`.
- `type` `"limit"` (default) | `"market"`; `time_in_force` `"GTC"` (default) | `"IOC"` |
  `"FOK"`; exact spellings, else `invalid_field`. A market order with a price is
  `market_order_with_price`; a limit order without one `limit_order_without_price`.
- `post_only`: a JSON bool only (`invalid_field` for `1` or `"true"`); `true` needs a GTC
  limit order (`invalid_post_only`).
- `client_order_id`, `order_id`: 1-64 characters of `[A-Za-z0-9_.:-]`.
- Query strings (lists): an empty parameter (`?cursor=`) counts as absent; `limit` is ASCII
  digits only, 1..1000; `side` is `buy`/`sell` (no `1`/`-1` in a URL).

Messages are short and echo at most 40 characters of client input, and only when that
input is plainly printable; the default messages come from lib.errors.KINDS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeGuard, get_args, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lib.commands import ID_CHARS, MAX_ID, MAX_QUANTITY, ModifyCommand, PlaceCommand, checked
from lib.config import MAX_SYMBOL, SYMBOL_CHARS, SymbolSpec
from lib.errors import KINDS, ErrorCode
from lib.prices import MAX_PRICE_TEXT, PriceError, from_ticks, to_ticks

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR = 200
DEFAULT_LEVELS = 5
MAX_LEVELS = 50
MAX_ECHO = 40  # characters of client input a message or `field` may repeat

OrderStatus = Literal["pending", "open", "partially_filled", "filled", "cancelled", "rejected"]
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)

_ID_RE = re.compile(f"{ID_CHARS}{{1,{MAX_ID}}}")
_SYMBOL_RE = re.compile(f"{SYMBOL_CHARS}{{1,{MAX_SYMBOL}}}")
# The queue commands' bounds (lib/commands.py) as pydantic types, for the request models.
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID, pattern=f"^{ID_CHARS}+$")]
Symbol = Annotated[str, Field(min_length=1, max_length=MAX_SYMBOL, pattern=f"^{SYMBOL_CHARS}+$")]
PriceText = Annotated[str, Field(min_length=1, max_length=MAX_PRICE_TEXT)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
# Plain decimal notation; the length is bounded separately by MAX_PRICE_TEXT.
_PRICE_TEXT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LIMIT_RE = re.compile(r"[0-9]{1,4}")
_SEQUENCE_RE = re.compile(r"[0-9]{1,18}")
_CURSOR_RE = re.compile(rf"[\x21-\x7e]{{1,{MAX_CURSOR}}}")  # printable ASCII, else opaque
_ECHO_RE = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_ECHO}}}")
# Integers past this are refused before any text conversion (str() of a 5,000-digit int
# raises ValueError in Python 3.12, and any such price is far above every maximum anyway).
_HUGE_PRICE = 10**30

PLACE_FIELDS = frozenset(
    {"symbol", "side", "type", "quantity", "price", "time_in_force", "post_only", "client_order_id"}
)
MODIFY_FIELDS = frozenset({"updated_price", "price", "updated_quantity", "quantity"})
_MODIFY_ALIASES = (("updated_price", "price"), ("updated_quantity", "quantity"))
BOOK_FIELDS = frozenset({"symbol", "levels"})
LIST_FIELDS: dict[str, frozenset[str]] = {
    "orders": frozenset({"limit", "cursor", "symbol", "status", "side"}),
    "trades": frozenset({"limit", "cursor", "symbol", "order_id", "after_sequence"}),
}

ClientOrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


@dataclass(frozen=True, slots=True)
class ApiError:
    """One refusal, ready for the wire: `body()` is DESIGN §2's error object, `status` its
    HTTP status. A value, not an exception, so a caller cannot forget to handle it."""

    code: ErrorCode
    message: str
    field: str | None = None

    @classmethod
    def of(cls, code: ErrorCode, field: str | None = None, message: str | None = None) -> ApiError:
        """An error with the code's default message unless one is given; `field` is clipped
        because it may be a client's own (unknown) field name."""
        clipped = None if field is None else field[:MAX_ECHO]
        return cls(code, KINDS[code].message if message is None else message, clipped)

    @property
    def status(self) -> int:
        return KINDS[self.code].status

    def body(self) -> dict[str, Any]:
        return {
            "success": False,
            "error": {"code": self.code.value, "message": self.message, "field": self.field},
        }


class _Request(BaseModel):
    # strict: the parsers hand over values of exactly the right type; nothing is coerced.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class PlaceOrder(_Request):
    """A valid place request: PlaceCommand's fields minus ids, account and received_at."""

    symbol: Symbol
    side: Literal["buy", "sell"]
    order_type: Literal["limit", "market"] = "limit"
    time_in_force: Literal["GTC", "IOC", "FOK"] = "GTC"
    price: PriceText | None = None  # normalised plain decimal text; None for market orders
    quantity: Quantity
    post_only: bool = False
    client_order_id: ClientOrderId | None = None


class ModifyOrder(_Request):
    """A valid modify request. `quantity` is the new total; `order_id` only from the
    compatibility route's body (parse_modify(allow_order_id=True))."""

    symbol: Symbol
    price: PriceText | None = None
    quantity: Quantity | None = None
    order_id: Id | None = None


class ListQuery(_Request):
    """Validated list parameters. `cursor` is still opaque: the list code decodes it."""

    kind: Literal["orders", "trades"]
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Annotated[str, Field(min_length=1, max_length=MAX_CURSOR)] | None = None
    symbol: Symbol | None = None
    status: OrderStatus | None = None
    side: Literal["buy", "sell"] | None = None
    order_id: Id | None = None
    after_sequence: Annotated[int, Field(ge=0)] | None = None


# --- place -----------------------------------------------------------------------------


def parse_place(body: object, symbols: Sequence[SymbolSpec]) -> PlaceOrder | ApiError:
    """The place request in `body` (decoded JSON, any shape), or the first thing wrong."""
    fields = _fields(body, PLACE_FIELDS)
    if isinstance(fields, ApiError):
        return fields
    for name in ("side", "quantity"):
        if name not in fields:
            return ApiError.of(ErrorCode.MISSING_FIELD, name, f"{name} is required")

    spec = _symbol(fields.get("symbol"), symbols)
    if isinstance(spec, ApiError):
        return spec
    side = _side(fields["side"])
    if isinstance(side, ApiError):
        return side
    quantity = _quantity(fields["quantity"], "quantity")
    if isinstance(quantity, ApiError):
        return quantity

    order_type = fields.get("type", "limit")
    if order_type not in ("limit", "market") or not isinstance(order_type, str):
        return ApiError.of(ErrorCode.INVALID_FIELD, "type", 'type must be "limit" or "market"')
    price: str | None = None
    if order_type == "market":
        if "price" in fields:
            return ApiError.of(ErrorCode.MARKET_ORDER_WITH_PRICE, "price")
    elif "price" not in fields:
        return ApiError.of(ErrorCode.LIMIT_ORDER_WITHOUT_PRICE, "price")
    else:
        priced = _price(fields["price"], spec, "price")
        if isinstance(priced, ApiError):
            return priced
        price = priced

    time_in_force = fields.get("time_in_force", "GTC")
    if time_in_force not in ("GTC", "IOC", "FOK") or not isinstance(time_in_force, str):
        return ApiError.of(
            ErrorCode.INVALID_FIELD, "time_in_force", 'time_in_force must be "GTC", "IOC" or "FOK"'
        )
    post_only = fields.get("post_only", False)
    if not isinstance(post_only, bool):
        return ApiError.of(ErrorCode.INVALID_FIELD, "post_only", "post_only must be true or false")
    if post_only and (order_type != "limit" or time_in_force != "GTC"):
        return ApiError.of(ErrorCode.INVALID_POST_ONLY, "post_only")
    client_order_id = fields.get("client_order_id")
    if client_order_id is not None and not _is_id(client_order_id):
        return ApiError.of(
            ErrorCode.INVALID_FIELD,
            "client_order_id",
            "client_order_id must be 1-64 characters of A-Z a-z 0-9 _ . : -",
        )

    return _build(
        PlaceOrder,
        symbol=spec.symbol,
        side=side,
        order_type=order_type,
        time_in_force=time_in_force,
        price=price,
        quantity=quantity,
        post_only=post_only,
        client_order_id=client_order_id,
    )


# --- modify ----------------------------------------------------------------------------


def parse_modify(
    body: object, spec: SymbolSpec, *, allow_order_id: bool = False
) -> ModifyOrder | ApiError:
    """The modify request in `body` for an order of `spec`'s symbol, or the first thing wrong.

    `updated_price` / `updated_quantity` may be spelled `price` / `quantity` (never both
    spellings at once: which one would win is a guess). With `allow_order_id` (the
    compatibility route PUT /api/modify_order, whose body names the order) `order_id` is
    required in the body; otherwise it is an unknown field, so a body cannot redirect a
    modify away from the order named in the path.
    """
    allowed = MODIFY_FIELDS | {"order_id"} if allow_order_id else MODIFY_FIELDS
    fields = _fields(body, allowed)
    if isinstance(fields, ApiError):
        return fields
    for name, alias in _MODIFY_ALIASES:
        if name in fields and alias in fields:
            return ApiError.of(
                ErrorCode.INVALID_FIELD, alias, f"give {name} or its alias {alias}, not both"
            )

    order_id: str | None = None
    if allow_order_id:
        if "order_id" not in fields:
            return ApiError.of(ErrorCode.MISSING_FIELD, "order_id", "order_id is required")
        parsed_id = parse_order_id(fields["order_id"])
        if isinstance(parsed_id, ApiError):
            return parsed_id
        order_id = parsed_id

    price_name = next((n for n in ("updated_price", "price") if n in fields), None)
    quantity_name = next((n for n in ("updated_quantity", "quantity") if n in fields), None)
    if price_name is None and quantity_name is None:
        return ApiError.of(ErrorCode.NOTHING_TO_MODIFY)
    price: str | None = None
    if price_name is not None:
        priced = _price(fields[price_name], spec, price_name)
        if isinstance(priced, ApiError):
            return priced
        price = priced
    quantity: int | None = None
    if quantity_name is not None:
        counted = _quantity(fields[quantity_name], quantity_name)
        if isinstance(counted, ApiError):
            return counted
        quantity = counted

    return _build(
        ModifyOrder, symbol=spec.symbol, price=price, quantity=quantity, order_id=order_id
    )


def parse_order_id(value: object, field: str = "order_id") -> str | ApiError:
    """An order id from a path, a query string or a body: 1-64 of `[A-Za-z0-9_.:-]`."""
    if _is_id(value):
        return value
    return ApiError.of(
        ErrorCode.INVALID_ORDER_ID, field, f"{field} must be 1-64 characters of A-Z a-z 0-9 _ . : -"
    )


# --- lists -----------------------------------------------------------------------------


def parse_list_query(
    args: Mapping[str, str],
    kind: Literal["orders", "trades"],
    symbols: Sequence[SymbolSpec] | None = None,
) -> ListQuery | ApiError:
    """The parameters of GET /api/orders (`kind="orders"`) or /api/trades, or the first
    thing wrong. With `symbols`, a `symbol` filter must be configured (`unknown_symbol`);
    without, it must only look like a symbol. Empty parameters count as absent."""
    allowed = LIST_FIELDS[kind]
    for name in args:
        if name not in allowed:
            return _unknown_field(name)
    present = {name: value for name, value in args.items() if value != ""}

    limit = DEFAULT_LIMIT
    if "limit" in present:
        text = present["limit"]
        if not (isinstance(text, str) and _LIMIT_RE.fullmatch(text)):
            return ApiError.of(ErrorCode.INVALID_LIMIT, "limit")
        limit = int(text)
        if not 1 <= limit <= MAX_LIMIT:
            return ApiError.of(ErrorCode.INVALID_LIMIT, "limit")
    cursor = present.get("cursor")
    if cursor is not None and not (isinstance(cursor, str) and _CURSOR_RE.fullmatch(cursor)):
        return ApiError.of(ErrorCode.INVALID_CURSOR, "cursor")
    symbol = present.get("symbol")
    if symbol is not None:
        known = (
            isinstance(symbol, str)
            and _SYMBOL_RE.fullmatch(symbol) is not None
            and (symbols is None or any(spec.symbol == symbol for spec in symbols))
        )
        if not known:
            return _unknown_symbol(symbol)
    status = present.get("status")
    if status is not None and status not in ORDER_STATUSES:
        return ApiError.of(
            ErrorCode.INVALID_FIELD, "status", "status must be one of " + ", ".join(ORDER_STATUSES)
        )
    side = present.get("side")
    if side is not None and side not in ("buy", "sell"):
        return ApiError.of(ErrorCode.INVALID_SIDE, "side", 'side must be "buy" or "sell"')
    order_id = present.get("order_id")
    if order_id is not None:
        parsed_id = parse_order_id(order_id)
        if isinstance(parsed_id, ApiError):
            return parsed_id
    after_sequence = None
    if "after_sequence" in present:
        text = present["after_sequence"]
        if not (isinstance(text, str) and _SEQUENCE_RE.fullmatch(text)):
            return ApiError.of(
                ErrorCode.INVALID_FIELD, "after_sequence", "after_sequence must be a whole number"
            )
        after_sequence = int(text)

    return _build(
        ListQuery,
        kind=kind,
        limit=limit,
        cursor=cursor,
        symbol=symbol,
        status=status,
        side=side,
        order_id=order_id,
        after_sequence=after_sequence,
    )


def parse_book_query(
    args: Mapping[str, str], symbols: Sequence[SymbolSpec]
) -> tuple[str, int] | ApiError:
    """GET /api/book's (symbol, levels): a configured symbol (default: the first), and
    1 <= levels <= 50 (default 5)."""
    for name in args:
        if name not in BOOK_FIELDS:
            return _unknown_field(name)
    present = {name: value for name, value in args.items() if value != ""}
    spec = _symbol(present.get("symbol"), symbols)
    if isinstance(spec, ApiError):
        return spec
    levels = DEFAULT_LEVELS
    if "levels" in present:
        text = present["levels"]
        if not (
            isinstance(text, str) and _LIMIT_RE.fullmatch(text) and 1 <= int(text) <= MAX_LEVELS
        ):
            return ApiError.of(
                ErrorCode.INVALID_FIELD,
                "levels",
                f"levels must be an integer from 1 to {MAX_LEVELS}",
            )
        levels = int(text)
    return spec.symbol, levels


# --- to the queue ----------------------------------------------------------------------


@overload
def to_command(
    request: PlaceOrder, *, command_id: str, order_id: str, account: str, received_at: int
) -> PlaceCommand: ...
@overload
def to_command(
    request: ModifyOrder, *, command_id: str, order_id: str, account: str, received_at: int
) -> ModifyCommand: ...
def to_command(
    request: PlaceOrder | ModifyOrder,
    *,
    command_id: str,
    order_id: str,
    account: str,
    received_at: int,
) -> PlaceCommand | ModifyCommand:
    """The queue command for a validated request, with the ids the API assigns.

    Raises InvalidCommandError only for bad server-side values (ids, time), and
    ValueError if a compatibility-route body named another order than `order_id`: both are
    programming errors, never a client's.
    """
    if isinstance(request, PlaceOrder):
        return checked(
            PlaceCommand(
                command_id=command_id,
                account=account,
                order_id=order_id,
                symbol=request.symbol,
                received_at=received_at,
                side=request.side,
                order_type=request.order_type,
                time_in_force=request.time_in_force,
                price=request.price,
                quantity=request.quantity,
                post_only=request.post_only,
                client_order_id=request.client_order_id,
            )
        )
    if request.order_id is not None and request.order_id != order_id:
        raise ValueError("the modify body names another order than order_id")
    return checked(
        ModifyCommand(
            command_id=command_id,
            account=account,
            order_id=order_id,
            symbol=request.symbol,
            received_at=received_at,
            price=request.price,
            quantity=request.quantity,
        )
    )


# --- helpers ---------------------------------------------------------------------------


def _fields(body: object, allowed: frozenset[str]) -> dict[str, object] | ApiError:
    """The body's fields with nulls dropped, or an error for a non-object or unknown field."""
    if not isinstance(body, dict):
        return ApiError.of(ErrorCode.INVALID_FIELD, None, "the body must be a JSON object")
    for name in body:
        if not isinstance(name, str) or name not in allowed:
            return _unknown_field(name)
    return {name: value for name, value in body.items() if value is not None}


def _unknown_field(name: object) -> ApiError:
    text = name if isinstance(name, str) else None
    if text is not None and _ECHO_RE.fullmatch(text):
        return ApiError.of(ErrorCode.UNKNOWN_FIELD, text, f"unknown field {text!r}")
    return ApiError.of(ErrorCode.UNKNOWN_FIELD, text)


def _unknown_symbol(symbol: object) -> ApiError:
    if isinstance(symbol, str) and _SYMBOL_RE.fullmatch(symbol):
        return ApiError.of(ErrorCode.UNKNOWN_SYMBOL, "symbol", f"unknown symbol {symbol!r}")
    return ApiError.of(ErrorCode.UNKNOWN_SYMBOL, "symbol")


def _symbol(value: object, symbols: Sequence[SymbolSpec]) -> SymbolSpec | ApiError:
    if value is None:
        return symbols[0] if symbols else ApiError.of(ErrorCode.UNKNOWN_SYMBOL, "symbol")
    if not isinstance(value, str):
        return ApiError.of(ErrorCode.INVALID_FIELD, "symbol", "symbol must be a string")
    spec = next((spec for spec in symbols if spec.symbol == value), None)
    return _unknown_symbol(value) if spec is None else spec


def _side(value: object) -> Literal["buy", "sell"] | ApiError:
    # type() rather than isinstance(): True is an int, and True == 1 == 1.0.
    if type(value) is int:
        if value == 1:
            return "buy"
        if value == -1:
            return "sell"
    elif type(value) is str:
        if value == "buy":
            return "buy"
        if value == "sell":
            return "sell"
    return ApiError.of(ErrorCode.INVALID_SIDE, "side")


def _quantity(value: object, field: str) -> int | ApiError:
    if type(value) is int and 1 <= value <= MAX_QUANTITY:
        return value
    return ApiError.of(
        ErrorCode.INVALID_QUANTITY, field, f"{field} must be a whole number from 1 to 1000000000"
    )


def _price(value: object, spec: SymbolSpec, field: str) -> str | ApiError:
    """The price as normalised plain decimal text, checked against `spec` by lib.prices."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return ApiError.of(
            ErrorCode.INVALID_PRICE, field, f"{field} must be a number or a decimal string"
        )
    if isinstance(value, str) and not (
        len(value) <= MAX_PRICE_TEXT and _PRICE_TEXT_RE.fullmatch(value)
    ):
        return ApiError.of(
            ErrorCode.INVALID_PRICE, field, f'{field} must be a plain decimal such as "101.25"'
        )
    if isinstance(value, int):
        if value <= 0:
            return ApiError.of(ErrorCode.INVALID_PRICE, field, f"{field} must be greater than 0")
        if value > _HUGE_PRICE:
            return ApiError.of(ErrorCode.PRICE_ABOVE_MAXIMUM, field)
    try:
        ticks = to_ticks(value, spec)
        text = format(from_ticks(ticks, spec), "f")
    except PriceError as refused:
        code = ErrorCode(refused.code) if refused.code in _PRICE_CODES else ErrorCode.INVALID_PRICE
        message = str(refused).replace("price", field, 1)
        return ApiError.of(code, field, message)
    except (ValueError, ArithmeticError):  # e.g. a tick so fine the division overflows
        return ApiError.of(ErrorCode.INVALID_PRICE, field)
    return text


_PRICE_CODES = frozenset(
    {ErrorCode.INVALID_PRICE, ErrorCode.PRICE_OFF_TICK, ErrorCode.PRICE_ABOVE_MAXIMUM}
)


def _is_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def _build[M: _Request](model: type[M], **values: object) -> M | ApiError:
    """Construct a model from values already checked; the model's own bounds are a second
    line of defence, and a disagreement between the two is still a 400, never a 500."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        field = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else None
        return ApiError.of(ErrorCode.INVALID_FIELD, field)
