"""Commands whose effects are huge: the shard must commit what can be committed and move on.

A market order that sweeps a deep book changes every order it meets: its batch's journal
payload can be far above MongoDB's 16 MB document limit, so it is written in parts
(matcher/service/journal.py) and must still commit, reply and project like any other.
What truly cannot be committed (above --max-commit-bytes, which stands for the memory a
commit may take) must not stop the shard for good: a batch too large as a whole is
applied again one command at a time, and a single command too large even alone is
refused (`too_large`), with everything after it applied as usual. In every case the
persisted state must equal the in-process replay of the same commands.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import pytest

from bench.command_stream import CommandSource
from lib import queue
from lib.commands import PlaceCommand, dump_command
from lib.config import load_settings
from matcher.service import store
from matcher.service.batch import Entry
from matcher.service.journal import JournalBatch
from matcher.service.recovery import new_state
from tests.service.harness import (
    SYMBOLS,
    MatcherProcess,
    ServiceEnv,
    assert_matches_replay,
    produce,
    replay,
    wait_replies,
)

T0 = 1_795_000_000_000  # received_at of the first command (ms), as CommandSource's
NOW = T0 * 1_000_000


def resting_sell(i: int) -> PlaceCommand:
    """A small limit sell by alice; prices spread every 0.05 from 100.00 to 109.95."""
    return PlaceCommand(
        command_id=f"r{i}", account="alice", order_id=f"r{i}", symbol="ACME",
        received_at=T0 + i, side="sell", price=f"{100 + (i % 200) * 0.05:.2f}",
        quantity=1 + i % 3,
    )  # fmt: skip


def resting_sells(count: int) -> list[PlaceCommand]:
    return [resting_sell(i) for i in range(count)]


def market_buy(name: str, quantity: int, received_at: int) -> PlaceCommand:
    return PlaceCommand(
        command_id=name, account="bob", order_id=name, symbol="ACME", received_at=received_at,
        side="buy", order_type="market", quantity=quantity,
    )  # fmt: skip


def payload_sizes(batches: list[list[str]]) -> list[int]:
    """The journal payload of each batch of raw commands applied in turn in this process,
    as the matcher measures it against --max-commit-bytes."""
    state = new_state(0, {s.symbol: s for s in load_settings({"SBS_SYMBOLS": SYMBOLS}).symbols})
    sizes = []
    entry = 0
    for number, raws in enumerate(batches, start=1):
        entries = []
        for raw in raws:
            entry += 1
            entries.append(Entry(f"{entry}-0", raw))
        batch = JournalBatch.of(0, number, state.apply(entries, NOW))
        sizes.append(JournalBatch.payload_bytes(batch.documents("writer", NOW)[0]))
    return sizes


def chunks(raws: list[str], size: int) -> list[list[str]]:
    return [raws[i : i + size] for i in range(0, len(raws), size)]


def events(matcher: MatcherProcess) -> str:
    """The matcher's log without the /health requests."""
    text = matcher.process.log_path.read_text(errors="replace")
    return "\n".join(line for line in text.splitlines() if "GET /health" not in line)


@pytest.fixture
def started() -> Iterator[list[MatcherProcess]]:
    processes: list[MatcherProcess] = []
    yield processes
    for process in processes:
        process.terminate()


# --------------------------------------------------------------- one huge sweep

# Sweeping 25,000 resting orders makes a journal payload of 0.9 MB compressed: two 512 kB
# parts. The long fault mode (SBS_LONG_FAULTS=1, as tests/service/test_crash.py) sweeps
# 50,000, which takes minutes on FerretDB.
SWEPT = 50_000 if os.environ.get("SBS_LONG_FAULTS") == "1" else 25_000


@pytest.mark.timeout(900)
def test_a_market_order_sweeping_a_huge_book_commits_in_parts_and_replies(
    service_env: ServiceEnv, started: list[MatcherProcess]
) -> None:
    client = service_env.redis()
    resting = resting_sells(SWEPT)
    total = sum(c.quantity for c in resting)
    sweep = market_buy("sweep", total, T0 + SWEPT)
    matcher = service_env.matcher()
    started.append(matcher.start())
    matcher.wait_role("leader")

    raws = produce(client, resting)
    sweep_entry = queue.enqueue(client, sweep, 1)
    raws.append(dump_command(sweep))
    produced = time.monotonic()
    replies = wait_replies(client, [c.command_id for c in [*resting, sweep]], timeout=300)
    replied_s = time.monotonic() - produced

    # Committed (the reply comes after the journal insert) and written in parts.
    reply = replies["sweep"]
    assert reply["success"] is True, reply
    assert reply["order"]["traded_quantity"] == total
    assert reply["order"]["status"] == "filled"
    assert all(replies[c.command_id]["success"] for c in resting)
    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    (committed,) = dbs.journal.find({"stream_ids": sweep_entry}, {"batch": 1, "parts": 1})
    assert committed.get("parts"), f"the sweep's batch {committed['batch']} has no parts"
    parts = list(dbs.journal_parts.find({"_id": {"$in": committed["parts"]}}, {"batch": 1}))
    assert len(parts) == len(committed["parts"]) >= 2
    assert {p["batch"] for p in parts} == {committed["batch"]}
    print(f"replies after {replied_s:.1f}s; the sweep's batch {committed['batch']} was "
          f"committed in {len(parts)} parts")  # fmt: skip

    try:
        matcher.wait_projected(timeout=300)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{events(matcher)}") from None
    print(f"projected after {time.monotonic() - produced:.1f}s")
    db = service_env.db()
    assert db.trades.count_documents({}) == SWEPT
    assert db.open_orders.count_documents({"symbol": "ACME", "side": "sell"}) == 0
    assert_matches_replay(service_env, replay(raws))


# ------------------------------------------------------ what cannot be committed

MAX_COMMIT_BYTES = 200_000
RESTING = 400  # a sweep of these weighs ~320 kB in the journal; 50 of them ~35 kB


def test_a_command_too_large_to_commit_is_refused_and_the_shard_moves_on(
    service_env: ServiceEnv, started: list[MatcherProcess]
) -> None:
    client = service_env.redis()
    resting = resting_sells(RESTING)
    sweep = market_buy("sweep", sum(c.quantity for c in resting), T0 + RESTING)
    later = CommandSource(seed=11).take(300)
    # All in the stream before the matcher starts, so its batches are fixed: eight of
    # resting orders, then the sweep with 49 ordinary commands (too large together).
    raws = produce(client, [*resting, sweep, *later])
    rest_raws = [dump_command(c) for c in resting]
    sizes = payload_sizes([*chunks(rest_raws, 50), [dump_command(sweep)]])
    assert max(sizes[:-1]) < MAX_COMMIT_BYTES < sizes[-1], sizes

    args = ("--max-commit-bytes", str(MAX_COMMIT_BYTES), "--max-batch", "50")
    matcher = service_env.matcher(args=args)
    started.append(matcher.start())
    replies = wait_replies(client, [c.command_id for c in [*resting, sweep, *later]])
    matcher.wait_projected()

    reply = replies["sweep"]
    assert reply["success"] is False and reply["error"]["code"] == "too_large", reply
    assert reply["order"]["status"] == "rejected"
    assert reply["order"]["traded_quantity"] == 0
    refused = [r for r in replies.values() if r.get("error", {}).get("code") == "too_large"]
    assert refused == [reply]
    rejected = service_env.db().orders.find_one({"_id": "sweep"})
    assert rejected is not None and rejected["status"] == "rejected"
    log = events(matcher)
    # The sweep's batch (it and 49 ordinary commands) is split, then the sweep refused.
    assert re.search(r"50 commands cannot be committed together: .*one at a time", log), log
    assert re.search(r"stream entry \S+: 1 commands cannot be committed.*will be refused", log)
    health = matcher.health()
    assert health["role"] == "leader"
    assert_matches_replay(service_env, replay(raws, refused=frozenset({"sweep"})))


def test_a_batch_too_large_only_as_a_whole_is_applied_one_command_at_a_time(
    service_env: ServiceEnv, started: list[MatcherProcess]
) -> None:
    client = service_env.redis()
    commands = CommandSource(seed=9).take(500)
    raws = produce(client, commands)  # before the start: the first batch reads them all
    (whole,) = payload_sizes([raws])
    largest = max(payload_sizes(chunks(raws, 1)))
    limit = max(10_000, 10 * largest)  # --max-commit-bytes takes 10,000 or more
    assert largest < limit < whole, (largest, limit, whole)

    args = ("--max-commit-bytes", str(limit), "--max-batch", "1000")
    matcher = service_env.matcher(args=args)
    started.append(matcher.start())
    replies = wait_replies(client, [c.command_id for c in commands])
    matcher.wait_projected()

    assert not [r for r in replies.values() if r.get("error", {}).get("code") == "too_large"]
    log = events(matcher)
    assert f"{len(commands)} commands cannot be committed together" in log
    assert "applying them one at a time" in log and "will be refused" not in log
    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    sizes = [len(d["stream_ids"]) for d in dbs.journal.find({}, {"stream_ids": 1})]
    assert sizes == [1] * len(commands), sizes
    assert_matches_replay(service_env, replay(raws))
