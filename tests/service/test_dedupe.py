"""One dedupe rule for a matcher that never stopped and one that has just recovered.

Two shard states apply the same stream in the same batches; at random batch boundaries
the second one loses its dedupe memory and rebuilds it from the journal documents, as
recovery does (only the batches recovery would load). Every reply must be the same: a
retried command deduplicated by one and applied by the other would be an order placed
twice. The memory is made small (capacity and window) so that eviction, the floor and
stale refusals all happen many times, with retries both inside and beyond the window and
`received_at` arriving slightly out of order, as from several API instances.
"""

from __future__ import annotations

import copy
import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.command_stream import CommandSource
from lib.commands import QueuedCommand, dump_command
from lib.config import load_settings
from matcher.service.batch import Entry
from matcher.service.journal import JournalBatch
from matcher.service.memory import DedupeMemory, Remembered
from matcher.service.recovery import new_engine, restore_memory
from matcher.service.state import ShardState
from tests.service.harness import SYMBOLS

CAPACITY = 60
WINDOW_MS = 400
T0_MS = 1_795_000_000_000


def stream_with_retries(seed: int, commands: int) -> list[QueuedCommand]:
    rnd = random.Random(seed)
    originals = CommandSource(seed=seed).take(commands)
    clock = T0_MS
    stamped: list[QueuedCommand] = []
    for command in originals:
        clock += rnd.randint(0, 12)
        jitter = rnd.randint(-30, 30)  # several API instances' clocks
        stamped.append(msgspec.structs.replace(command, received_at=clock + jitter))
    stream: list[QueuedCommand] = []
    for i, command in enumerate(stamped):
        stream.append(command)
        if i > 5 and rnd.random() < 0.1:  # an SDK retry: the same command, soon after...
            stream.append(stamped[i - rnd.randint(1, 5)])
        if i > 150 and rnd.random() < 0.15:  # ...or later: inside, at and beyond the memory
            stream.append(stamped[i - rnd.randint(20, 150)])
    return stream


def fresh_state() -> ShardState:
    specs = {s.symbol: s for s in load_settings({"SBS_SYMBOLS": SYMBOLS}).symbols}
    return ShardState(0, specs, new_engine(0, specs), DedupeMemory(CAPACITY, WINDOW_MS))


def recovered_memory(journal: list[dict[str, object]]) -> DedupeMemory:
    """What recovery rebuilds: the newest batch's floor, and the batches that may hold a
    command received above it (store.recent_journal's query)."""
    last = journal[-1]
    floor, newest = int(str(last["dedupe_floor"])), int(str(last["received_newest"]))
    loaded = [
        JournalBatch.from_document(doc) for doc in journal if int(str(doc["received_max"])) > floor
    ]
    memory = DedupeMemory(CAPACITY, WINDOW_MS)
    restore_memory(memory, floor, newest, loaded)
    return memory


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), crashes=st.integers(1, 12))
def test_a_recovered_memory_decides_every_command_as_the_uninterrupted_one(
    seed: int, crashes: int
) -> None:
    rnd = random.Random(seed)
    raws = [dump_command(c) for c in stream_with_retries(seed, 600)]
    running, recovering = fresh_state(), fresh_state()
    journal: list[dict[str, object]] = []
    crash_after = set(rnd.sample(range(1, 60), crashes))
    crash_after |= set(range(60, 400, 3))  # and often later on
    position, number, now_ms = 0, 0, T0_MS
    outcomes: dict[str, int] = {}
    while position < len(raws):
        size = rnd.randint(1, 25)
        entries = [Entry(f"{position + i + 1}-0", r) for i, r in enumerate(raws[position:][:size])]
        position += len(entries)
        number += 1
        now_ms += rnd.randint(0, 150)
        expected = running.apply(copy.deepcopy(entries), now_ms * 1_000_000)
        got = recovering.apply(entries, now_ms * 1_000_000)
        assert got.replies == expected.replies, f"batch {number}"
        for reply in got.replies.values():
            code = "ok" if reply["success"] else reply["error"]["code"]
            outcomes[code] = outcomes.get(code, 0) + 1
        doc, parts = JournalBatch.of(0, number, got).documents("writer", now_ms * 1_000_000)
        assert parts == []
        journal.append(doc)
        if number in crash_after:
            recovering.memory = recovered_memory(journal)
    # The stream must have exercised the rule, not only passed around it.
    assert outcomes.get("stale_command", 0) > 0, outcomes
    assert running.memory.floor > T0_MS


def test_floor_refuses_what_the_memory_let_go_of() -> None:
    memory = DedupeMemory(capacity=2, window_ms=1000)
    for n, received in enumerate((100, 105, 110)):
        memory.remember(Remembered(f"c{n}", received, f"o{n}"), {"n": n}, now_ms=5000)
    # c0 went by count: anything received at or before it may be its late retry.
    assert memory.floor == 100
    assert memory.is_stale(100) and not memory.is_stale(101)
    assert memory.encoded_reply("c0") is None and memory.encoded_reply("c1") == b'{"n":1}'
    assert not memory.knows_order("o0") and memory.knows_order("o2")
    # Time: a command 1000 ms newer than the rest pushes the floor to newest - window.
    memory.remember(Remembered("c3", 1200, None), {"n": 3}, now_ms=5000)
    assert memory.floor == 200 and memory.encoded_reply("c2") is None
    # A received_at from a clock far ahead cannot move `newest` past the batch's clock.
    memory.remember(Remembered("c4", 10**12, None), {"n": 4}, now_ms=5000)
    assert memory.newest == 5000
