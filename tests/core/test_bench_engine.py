"""The engine benchmark's workloads have the shapes issue 11 defines (checked on small,
scaled-down streams), and its service mode builds the same commands as the prebuilt one."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.engine import ceiling_ratio, run, service_pipeline
from bench.workloads import (
    CANCEL,
    MARKETABLE,
    PASSIVE,
    RECEIVED_AT,
    SHAPES,
    SWEEP,
    SYMBOL,
    Stream,
    generate,
    new_engine,
    symbol_spec,
    wire,
)
from lib.commands import dump_command
from lib.order_requests import ApiError, parse_place, to_command
from matcher.core import (
    Event,
    MatchingEngine,
    OrderRejected,
    OrderStatus,
    OrderUpdated,
    PlaceOrder,
    Side,
    TradeExecuted,
)

SCALE = 0.01  # of the preloads: deep 1,000 orders, cancel_heavy 5,000, sweep_heavy 200
ALL = 10**9


def preloaded(stream: Stream) -> MatchingEngine:
    engine = new_engine()
    for i, command in enumerate(stream.preload):
        events = engine.execute(command, i)
        assert not any(type(e) in (TradeExecuted, OrderRejected) for e in events)
    return engine


def replay(stream: Stream) -> tuple[MatchingEngine, list[list[Event]]]:
    engine = preloaded(stream)
    base = len(stream.preload)
    return engine, [engine.execute(c, base + n) for n, c in enumerate(stream.timed)]


def trades(events: list[Event]) -> list[TradeExecuted]:
    return [e for e in events if isinstance(e, TradeExecuted)]


def shares(stream: Stream) -> tuple[float, Counter[str]]:
    kinds = Counter(stream.kinds)
    places = len(stream.kinds) - kinds[CANCEL]
    return places / len(stream.kinds), kinds


def test_normal_is_60_40_with_a_tenth_marketable_and_passive_orders_never_trading() -> None:
    stream = generate("normal", 8_000, seed=3)
    assert len(stream.timed) == len(stream.kinds) == 8_000
    place, kinds = shares(stream)
    assert place == pytest.approx(0.6, abs=0.025)
    assert kinds[MARKETABLE] / (kinds[PASSIVE] + kinds[MARKETABLE]) == pytest.approx(0.1, abs=0.02)
    engine, replayed = replay(stream)
    for kind, events in zip(stream.kinds, replayed, strict=True):
        if kind == PASSIVE:
            assert not trades(events)
        elif kind == MARKETABLE:
            assert trades(events)
        else:  # a cancel always names a live order of its own account
            assert kind == CANCEL
            (update,) = events
            assert isinstance(update, OrderUpdated) and update.status is OrderStatus.CANCELLED
    # The book grows by ~0.08 orders a message: ~80,000 after 1,000,000.
    assert 0.05 < len(engine.open_orders()) / 8_000 < 0.11


@pytest.mark.parametrize("name", ["deep", "cancel_heavy", "sweep_heavy"])
def test_preloads_rest_the_scaled_orders_over_the_scaled_levels(name: str) -> None:
    shape = SHAPES[name]
    stream = generate(name, 0, scale=SCALE)
    engine = preloaded(stream)
    bids, asks = engine.book(SYMBOL).depth(ALL)
    assert len(engine.open_orders()) == round(shape.preload_orders * SCALE)
    assert len(bids) + len(asks) == round(shape.preload_levels * SCALE) == 13
    assert abs(len(bids) - len(asks)) <= 1
    assert max(p for p, _ in bids) < min(p for p, _ in asks)


def test_cancel_heavy_is_30_70_over_a_large_book() -> None:
    stream = generate("cancel_heavy", 3_000, scale=SCALE)
    place, _ = shares(stream)
    assert place == pytest.approx(0.3, abs=0.03)
    _, events = replay(stream)
    cancels = [e for kind, e in zip(stream.kinds, events, strict=True) if kind == CANCEL]
    assert all([type(x) for x in e] == [OrderUpdated] for e in cancels)


def test_sweeps_take_the_whole_of_the_best_2_to_5_opposite_levels() -> None:
    stream = generate("sweep_heavy", 3_000, scale=0.05)
    _, kinds = shares(stream)
    assert kinds[CANCEL] == 0
    assert kinds[SWEEP] / len(stream.kinds) == pytest.approx(0.3, abs=0.04)
    engine = preloaded(stream)
    book = engine.book(SYMBOL)
    base = len(stream.preload)
    taken: Counter[int] = Counter()
    for n, command in enumerate(stream.timed):
        if n not in stream.sweeps:
            engine.execute(command, base + n)
            continue
        assert isinstance(command, PlaceOrder)
        bids, asks = book.depth(5)
        opposite = asks if command.side is Side.BUY else bids
        prices = stream.sweeps[n]
        assert 2 <= len(prices) <= 5
        assert prices == [p for p, _ in opposite[: len(prices)]]
        volume = sum(q for _, q in opposite[: len(prices)])
        events = engine.execute(command, base + n)
        fills = trades(events)
        assert sorted({t.price for t in fills}) == sorted(prices)
        assert sum(t.quantity for t in fills) == volume
        # Every swept level is gone; what the sweeper had over rests at the last price.
        bids, asks = book.depth(ALL)
        assert not {p for p, _ in (asks if command.side is Side.BUY else bids)} & set(prices)
        last = events[-1]
        assert isinstance(last, OrderUpdated) and last.order_id == command.order_id
        assert last.status is OrderStatus.PARTIALLY_FILLED and last.price == prices[-1]
        taken[len(prices)] += 1
    assert set(taken) == {2, 3, 4, 5}


def test_wire_form_is_what_the_api_enqueues() -> None:
    stream = generate("normal", 300, seed=5)
    spec = symbol_spec()
    for n, (command, raw) in enumerate(zip(stream.timed, wire(stream.timed), strict=True)):
        if not isinstance(command, PlaceOrder):
            continue
        assert command.price is not None
        body = {
            "symbol": SYMBOL,
            "side": "buy" if command.side is Side.BUY else "sell",
            "quantity": command.quantity,
            "price": command.price / 100,  # a JSON number, as a client sends it
        }
        request = parse_place(body, [spec])
        assert not isinstance(request, ApiError)
        api = to_command(request, command_id=f"c{RECEIVED_AT:012x}{n:016x}",
                         order_id=command.order_id, account=command.account,
                         received_at=RECEIVED_AT)  # fmt: skip
        assert dump_command(api) == raw


@pytest.mark.parametrize("name", list(SHAPES))
def test_service_mode_builds_the_prebuilt_commands_and_events(name: str) -> None:
    stream = generate(name, 1_500, seed=11, scale=SCALE)
    base = len(stream.preload)
    _, prebuilt = replay(stream)
    engine, parse, convert = service_pipeline(stream.preload)
    for n, raw in enumerate(wire(stream.timed, base)):
        command, refused = convert(parse(raw))
        assert refused is None
        assert command == stream.timed[n]
        assert engine.execute(command, base + n) == prebuilt[n]
    assert sum(len(e) for e in prebuilt) > len(prebuilt)  # it did match, not only rest


def test_both_modes_replay_one_stream_and_the_service_line_carries_its_ceiling() -> None:
    calibration = 1_000_000
    core, service = run("normal", ["core_prebuilt", "service"], 2_000, 5, 1, calibration)
    assert (core["mode"], service["mode"]) == ("core_prebuilt", "service")
    for key in ("events", "resting_orders", "levels"):
        assert core[key] == service[key]
    # Decoding is part of what the service does per message, so it is faster than all of it.
    assert service["decode_only_per_s"] > service["messages_per_s"]
    decode, prebuilt = service["decode_only_per_s"], core["messages_per_s"]
    assert service["ceiling_ratio"] < min(decode, prebuilt) / calibration
    # 1 µs to decode and 1 µs to execute: 500,000 messages a second, half of 1,000,000.
    assert ceiling_ratio({"messages_per_s": 10**6}, {"decode_only_per_s": 10**6}, 10**6) == 0.5
