"""The commands that travel through the queue (DESIGN §4), as typed, bounded structs.

The API builds one of these (`checked`), assigns `command_id` and `order_id`, and enqueues
its compact JSON; the matcher parses the same JSON back on every command of its hot path.
Prices travel as decimal *strings*: the matcher turns them into ticks with lib.prices, so an
off-tick price is refused there too.

They are msgspec structs, not pydantic models: msgspec decodes and checks a command in C,
and with the two checks below a parse takes 1.1 µs against pydantic's 2.5; a struct is
also cheap to build and read (docs/BENCHMARKS.md). The constraints are those the pydantic
models had. Two are checked after the decode, because a pattern constraint runs Python's
`re` once per field, which costs more than the whole decode: the characters of the ids
(one pattern over the three ids together) and those of the symbol (remembered per symbol).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta, Struct

from lib.config import MAX_SYMBOL, SYMBOL_CHARS
from lib.prices import MAX_PRICE_TEXT

# The bounds, which the API's request models (lib/order_requests.py) share.
MAX_ID = 64
ID_CHARS = r"[A-Za-z0-9_.:-]"
MAX_QUANTITY = 1_000_000_000

Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]  # characters: _IDS below
Symbol = Annotated[str, Meta(min_length=1, max_length=MAX_SYMBOL)]  # characters: _SYMBOL
PriceText = Annotated[str, Meta(min_length=1, max_length=MAX_PRICE_TEXT)]
Quantity = Annotated[int, Meta(ge=1, le=MAX_QUANTITY)]
EpochMs = Annotated[int, Meta(ge=0, le=10**14)]
ClientOrderId = Annotated[str, Meta(max_length=MAX_ID)]

_IDS = re.compile(ID_CHARS + "+")
_SYMBOL = re.compile(SYMBOL_CHARS + "+")
_KNOWN_SYMBOLS_MAX = 4096  # the symbols whose check is remembered (a shard serves a few)


class InvalidCommandError(ValueError):
    """A queue entry that is not a valid command; the message says where and why."""


class _Command(
    Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True,
    tag_field="type",
):  # fmt: skip
    command_id: Id
    account: Id
    order_id: Id
    # The shard is hash(symbol): modify/cancel carry the symbol the API knows from its cache.
    symbol: Symbol
    received_at: EpochMs


class PlaceCommand(_Command, frozen=True, kw_only=True, tag="place"):
    type: ClassVar[str] = "place"
    side: Literal["buy", "sell"]
    order_type: Literal["limit", "market"] = "limit"
    time_in_force: Literal["GTC", "IOC", "FOK"] = "GTC"
    price: PriceText | None = None
    quantity: Quantity
    post_only: bool = False
    client_order_id: ClientOrderId | None = None


class ModifyCommand(_Command, frozen=True, kw_only=True, tag="modify"):
    type: ClassVar[str] = "modify"
    price: PriceText | None = None
    quantity: Quantity | None = None  # the new total quantity, traded part included


class CancelCommand(_Command, frozen=True, kw_only=True, tag="cancel"):
    type: ClassVar[str] = "cancel"


# Any command of the queue; the one spelling of this union in the project (the matching
# core has its own `Command`, of engine commands: these are what travels before them).
QueuedCommand = PlaceCommand | ModifyCommand | CancelCommand
_DECODER = msgspec.json.Decoder(QueuedCommand)
_ENCODER = msgspec.json.Encoder()
_symbols_checked: dict[str, bool] = {}


def parse_command(data: str | bytes) -> QueuedCommand:
    """Parse a command's JSON; raises InvalidCommandError."""
    try:
        command = _DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidCommandError(str(exc)) from None
    # Each id is at least one character (checked above), so the three together match
    # exactly when each one does.
    if _IDS.fullmatch(command.command_id + command.account + command.order_id) is None:
        bad = next(n for n in ("command_id", "account", "order_id")
                   if not _IDS.fullmatch(getattr(command, n)))  # fmt: skip
        raise InvalidCommandError(f"Expected `str` matching `{_IDS.pattern}` - at `$.{bad}`")
    if not _symbol_ok(command.symbol):
        raise InvalidCommandError(f"Expected `str` matching `{_SYMBOL.pattern}` - at `$.symbol`")
    return command


def _symbol_ok(symbol: str) -> bool:
    ok = _symbols_checked.get(symbol)
    if ok is None:
        ok = _SYMBOL.fullmatch(symbol) is not None
        if len(_symbols_checked) < _KNOWN_SYMBOLS_MAX:
            _symbols_checked[symbol] = ok
    return ok


def dump_command(command: QueuedCommand) -> str:
    """Compact JSON: defaults left out (but always `type`), so a stream entry stays small."""
    return _ENCODER.encode(command).decode()


def checked[C: (PlaceCommand, ModifyCommand, CancelCommand)](command: C) -> C:
    """`command` if it is valid (building a struct checks nothing); raises
    InvalidCommandError otherwise. The API builds every command it enqueues through this,
    so that it never enqueues one the matcher would refuse as malformed."""
    parse_command(dump_command(command))
    return command
