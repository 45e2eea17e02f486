"""What recovery reads back from the journal, and what pruning may delete."""

from __future__ import annotations

from matcher.service import store
from tests.service.harness import ServiceEnv

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
