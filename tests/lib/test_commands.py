"""The queue's command format (DESIGN §4): what `parse_command` accepts is exactly what a
plain reference reading of the rules accepts, field values included, on valid commands
and on every kind of damage to them; `dump_command` round-trips; `checked` refuses what
the matcher would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.commands import (
    CancelCommand,
    InvalidCommandError,
    ModifyCommand,
    PlaceCommand,
    checked,
    dump_command,
    parse_command,
)

ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"
SYMBOL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
COMMON = ("command_id", "account", "order_id", "symbol", "received_at")
DEFAULTS: dict[str, dict[str, Any]] = {
    "place": {"order_type": "limit", "time_in_force": "GTC", "price": None,
              "post_only": False, "client_order_id": None},
    "modify": {"price": None, "quantity": None},
    "cancel": {},
}  # fmt: skip
REQUIRED = {"place": ("side", "quantity"), "modify": (), "cancel": ()}


def _int_in(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _text(value: object, chars: str | None, longest: int, shortest: int = 1) -> bool:
    return (
        type(value) is str
        and shortest <= len(value) <= longest
        and (chars is None or all(c in chars for c in value))
    )


def _field_ok(name: str, value: object) -> bool:
    rules = {
        "command_id": lambda v: _text(v, ID_CHARS, 64),
        "account": lambda v: _text(v, ID_CHARS, 64),
        "order_id": lambda v: _text(v, ID_CHARS, 64),
        "symbol": lambda v: _text(v, SYMBOL_CHARS, 16),
        "received_at": lambda v: _int_in(v, 0, 10**14),
        "side": lambda v: v in ("buy", "sell"),
        "order_type": lambda v: v in ("limit", "market"),
        "time_in_force": lambda v: v in ("GTC", "IOC", "FOK"),
        "price": lambda v: v is None or _text(v, None, 32),
        "quantity": lambda v: _int_in(v, 1, 10**9),
        "post_only": lambda v: type(v) is bool,
        "client_order_id": lambda v: v is None or _text(v, None, 64, shortest=0),
    }
    return rules[name](value)


def reference(data: object) -> dict[str, Any] | None:
    """The rules read plainly: the command's fields with defaults filled in, or None."""
    if not isinstance(data, dict) or data.get("type") not in tuple(DEFAULTS):
        return None
    kind = data["type"]
    allowed = {"type", *COMMON, *REQUIRED[kind], *DEFAULTS[kind]}
    if set(data) - allowed or any(name not in data for name in (*COMMON, *REQUIRED[kind])):
        return None
    fields = DEFAULTS[kind] | {k: v for k, v in data.items() if k != "type"}
    optional = {"quantity"} if kind == "modify" else set()  # a modify may keep its quantity
    ok = all((k in optional and v is None) or _field_ok(k, v) for k, v in fields.items())
    return fields if ok else None


def parsed_fields(text: str) -> dict[str, Any] | None:
    try:
        command = parse_command(text)
    except InvalidCommandError:
        return None
    return {name: getattr(command, name) for name in command.__struct_fields__}


ids = st.text(ID_CHARS, min_size=1, max_size=64)
valid_values: dict[str, st.SearchStrategy[Any]] = {
    "command_id": ids,
    "account": ids,
    "order_id": ids,
    "symbol": st.text(SYMBOL_CHARS, min_size=1, max_size=16),
    "received_at": st.integers(0, 10**14),
    "side": st.sampled_from(["buy", "sell"]),
    "order_type": st.sampled_from(["limit", "market"]),
    "time_in_force": st.sampled_from(["GTC", "IOC", "FOK"]),
    "price": st.none() | st.text(min_size=1, max_size=32),
    "quantity": st.integers(1, 10**9),
    "post_only": st.booleans(),
    "client_order_id": st.none() | st.text(max_size=64),
}
# Damage of every kind: wrong types, empty and over-long text, characters outside the
# set (non-ASCII letters among them), numbers at and past the bounds, floats and bools
# for integers, strings for booleans.
damaged = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 10**9, 10**9 + 1, 10**14, 10**14 + 1, 2**70, 1.0, 1.5]),
    st.sampled_from(["", "a b", "\u0131", "ACME ", "acme", "x" * 65, "1" * 17, "buy ", "true"]),
    st.text(max_size=70),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(DEFAULTS)))
    names = [*COMMON, *REQUIRED[kind]]
    names += [n for n in DEFAULTS[kind] if draw(st.booleans())]  # defaults left out or not
    data: dict[str, Any] = {"type": kind}
    for name in names:
        data[name] = draw(valid_values[name])
    for name in draw(st.lists(st.sampled_from([*names, "type"]), max_size=2)):
        if draw(st.booleans()):
            data[name] = draw(damaged)
        else:
            data.pop(name, None)
    if draw(st.integers(0, 9)) == 0:
        data["extra"] = 1
    return data


@settings(max_examples=3000, deadline=None)
@given(commands())
def test_parse_accepts_exactly_what_the_rules_accept(data: dict[str, Any]) -> None:
    assert parsed_fields(json.dumps(data)) == reference(data)


@settings(max_examples=500, deadline=None)
@given(commands())
def test_a_parsed_command_round_trips_and_leaves_its_defaults_out(data: dict[str, Any]) -> None:
    if reference(data) is None:
        return
    command = parse_command(json.dumps(data))
    text = dump_command(command)
    assert parse_command(text) == command
    sent = json.loads(text)
    assert sent["type"] == command.type == data["type"]
    assert not any(
        sent.get(name, object()) == value for name, value in DEFAULTS[command.type].items()
    )


@pytest.mark.parametrize("text", ["", "not json", "[]", "null", '{"type":"place"}', "{}"])
def test_what_is_not_a_command_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(InvalidCommandError) as refused:
        parse_command(text)
    assert str(refused.value)


def test_the_message_names_the_field_at_fault() -> None:
    base = {"type": "cancel", "command_id": "c1", "account": "alice", "order_id": "o1",
            "symbol": "ACME", "received_at": 1}  # fmt: skip
    for name, bad in [("account", "al ice"), ("order_id", "o/1"), ("symbol", "acme"),
                      ("received_at", -1)]:  # fmt: skip
        with pytest.raises(InvalidCommandError, match=rf"\$\.{name}"):
            parse_command(json.dumps(base | {name: bad}))


def test_checked_refuses_a_built_command_the_matcher_would_refuse() -> None:
    good = CancelCommand(command_id="c1", account="a", order_id="o1", symbol="ACME",
                         received_at=5)  # fmt: skip
    assert checked(good) is good
    with pytest.raises(InvalidCommandError):
        checked(PlaceCommand(command_id="c 1", account="a", order_id="o1", symbol="ACME",
                             received_at=5, side="buy", quantity=1))  # fmt: skip
    with pytest.raises(InvalidCommandError):
        checked(ModifyCommand(command_id="c1", account="a", order_id="o1", symbol="ACME",
                              received_at=5, quantity=0))  # fmt: skip
