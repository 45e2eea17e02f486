"""What recovery reads back from the journal, and what pruning may delete."""

from __future__ import annotations

from bench.command_stream import CommandSource
from lib.commands import dump_command
from lib.config import load_settings
from matcher.service import store
from matcher.service.batch import Entry
from matcher.service.journal import JournalBatch
from matcher.service.recovery import new_state
from tests.service.harness import SYMBOLS, ServiceEnv

NOW = 1_795_000_000 * 10**9
MINUTE = 60 * 10**9


def test_recent_journal_and_pruning(service_env: ServiceEnv) -> None:
    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    store.ensure_indexes(dbs)
    # Batches 1-4 of shard 0, ten minutes apart to one minute ago; one of shard 1.
    for batch, age in ((1, 30), (2, 20), (3, 10), (4, 1)):
        doc = {"_id": store.journal_id(0, batch), "shard": 0, "batch": batch,
               "timestamp": NOW - age * MINUTE, "writer": "w"}  # fmt: skip
        store.insert_journal(dbs.journal, doc)
    store.insert_journal(dbs.journal, {"_id": "1:9", "shard": 1, "batch": 9, "timestamp": NOW})

    def batches(from_batch: int, since_minutes: int) -> list[int]:
        since = NOW - since_minutes * MINUTE
        return [d["batch"] for d in store.recent_journal(dbs.journal, 0, from_batch, since)]

    # Everything from the last projected batch on, however old, plus the last 5 minutes.
    assert batches(2, 5) == [2, 3, 4]
    assert batches(9, 5) == [4]
    assert batches(9, 15) == [3, 4]

    # Only projected batches (<= 2 here) older than the cut-off go.
    store.prune_journal(dbs.journal, 0, 2, NOW - 15 * MINUTE)
    assert batches(0, 60) == [3, 4]
    store.prune_journal(dbs.journal, 0, 2, NOW)
    assert batches(0, 60) == [3, 4]  # batch 3 is not projected yet: kept
    assert dbs.journal.count_documents({"shard": 1}) == 1


def test_journal_document_round_trip() -> None:
    """Replies are stored by reference to the batch's order documents where they can be;
    reading the document back must give every reply exactly as it was sent."""
    specs = {s.symbol: s for s in load_settings({"SBS_SYMBOLS": SYMBOLS}).symbols}
    state = new_state(0, specs)
    raws = [dump_command(c) for c in CommandSource(seed=3).take(3000)]
    for start in range(0, len(raws), 500):
        entries = [Entry(f"{start + i + 1}-0", raw) for i, raw in enumerate(raws[start:][:500])]
        batch = JournalBatch.of(0, start // 500 + 1, state.apply(entries, NOW))
        back = JournalBatch.from_document(batch.document("writer", NOW))
        assert back.replies == batch.replies
        assert back == batch
