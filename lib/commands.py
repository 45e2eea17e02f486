"""The commands that travel through the queue (DESIGN §4), as typed, bounded models.

The API builds one of these, assigns `command_id` and `order_id`, and enqueues its compact
JSON; the matcher parses the same JSON back. Prices travel as decimal *strings*: the matcher
turns them into ticks with lib.prices, so an off-tick price is refused there too.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Symbol = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9.-]+$")]
PriceText = Annotated[str, Field(min_length=1, max_length=32)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000_000)]
EpochMs = Annotated[int, Field(ge=0, le=10**14)]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: Id
    account: Id
    order_id: Id
    # The shard is hash(symbol): modify/cancel carry the symbol the API knows from its cache.
    symbol: Symbol
    received_at: EpochMs


class PlaceCommand(_Command):
    type: Literal["place"] = "place"
    side: Literal["buy", "sell"]
    order_type: Literal["limit", "market"] = "limit"
    time_in_force: Literal["GTC", "IOC", "FOK"] = "GTC"
    price: PriceText | None = None
    quantity: Quantity
    post_only: bool = False
    client_order_id: Annotated[str, Field(max_length=64)] | None = None


class ModifyCommand(_Command):
    type: Literal["modify"] = "modify"
    price: PriceText | None = None
    quantity: Quantity | None = None  # the new total quantity, traded part included


class CancelCommand(_Command):
    type: Literal["cancel"] = "cancel"


# Any command of the queue; the one spelling of this union in the project (the matching
# core has its own `Command`, of engine commands: these are what travels before them).
QueuedCommand = PlaceCommand | ModifyCommand | CancelCommand
_ADAPTER: TypeAdapter[QueuedCommand] = TypeAdapter(
    Annotated[QueuedCommand, Field(discriminator="type")]
)


def parse_command(data: str | bytes) -> QueuedCommand:
    """Parse a command's JSON; raises pydantic.ValidationError."""
    return _ADAPTER.validate_json(data)


def dump_command(command: QueuedCommand) -> str:
    """Compact JSON: defaults left out (but always `type`), so a stream entry stays small."""
    data = command.model_dump(exclude_defaults=True)
    data["type"] = command.type
    return json.dumps(data, separators=(",", ":"))
