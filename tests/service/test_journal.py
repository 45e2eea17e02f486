"""What recovery reads back from the journal, and what pruning may delete."""

from __future__ import annotations

import zlib

import orjson
import pytest

from bench.command_stream import CommandSource
from lib import keys
from lib.commands import dump_command
from lib.config import load_settings
from matcher.service import journal, store
from matcher.service.batch import Entry
from matcher.service.journal import JournalBatch
from matcher.service.recovery import new_state
from matcher.service.stream import publish_arguments
from tests.service.harness import SYMBOLS, ServiceEnv

NOW = 1_795_000_000 * 10**9


def test_recent_journal_and_pruning(service_env: ServiceEnv) -> None:
    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    store.ensure_indexes(dbs)
    # Batches 1-4 of shard 0 whose newest command was received at 10, 20, 30, 40; one of
    # shard 1; and orphan parts of a batch 2 that another writer never committed.
    for batch in (1, 2, 3, 4):
        doc = {"_id": store.journal_id(0, batch), "shard": 0, "batch": batch,
               "received_max": batch * 10, "writer": "w"}  # fmt: skip
        store.insert_journal(dbs, doc)
    store.insert_journal(dbs, {"_id": "1:9", "shard": 1, "batch": 9, "received_max": 0})
    dbs.journal_parts.insert_one({"_id": "0:2:gone:0", "shard": 0, "batch": 2, "data": b""})

    def batches(from_batch: int, received_above: int) -> list[int]:
        found = store.recent_journal(dbs, 0, from_batch, received_above)
        return [doc["batch"] for doc, _ in found]

    # Everything from the last projected batch on, plus what holds commands above the floor.
    assert batches(2, 25) == [2, 3, 4]
    assert batches(9, 25) == [3, 4]
    assert batches(9, 35) == [4]

    # Only projected batches (below the last projected one, which recovery reads the
    # dedupe floor from) whose commands are all at or below the floor go.
    store.prune_journal(dbs, 0, 4, 25)
    assert batches(0, -1) == [3, 4]
    assert dbs.journal_parts.count_documents({}) == 0  # below the oldest batch kept
    store.prune_journal(dbs, 0, 3, 100)
    assert batches(0, -1) == [3, 4]  # batch 3 is the last projected one: kept
    store.prune_journal(dbs, 0, 4, 100)
    assert batches(0, -1) == [4]
    assert dbs.journal.count_documents({"shard": 1}) == 1


def batches_of(commands: int, per_batch: int) -> list[JournalBatch]:
    specs = {s.symbol: s for s in load_settings({"SBS_SYMBOLS": SYMBOLS}).symbols}
    state = new_state(0, specs)
    raws = [dump_command(c) for c in CommandSource(seed=3).take(commands)]
    found = []
    for start in range(0, len(raws), per_batch):
        chunk = raws[start:][:per_batch]
        entries = [Entry(f"{start + i + 1}-0", raw) for i, raw in enumerate(chunk)]
        found.append(JournalBatch.of(0, start // per_batch + 1, state.apply(entries, NOW)))
    return found


def test_journal_document_round_trip() -> None:
    """Replies are stored by reference to the batch's order documents where they can be;
    reading the document back must give every reply exactly as it was sent, from a
    compressed payload (a large batch) and a plain one (a small batch) alike."""
    encodings = set()
    for batch in [*batches_of(3000, 500), *batches_of(20, 2)]:
        doc, parts = batch.documents("writer", NOW)
        assert parts == []
        encodings.add(doc["encoding"])
        back = JournalBatch.from_document(doc)
        assert back.replies == batch.replies
        assert back.remembered == batch.remembered and back.remembered
        assert back == batch
    assert encodings == {journal.COMPRESSED, journal.PLAIN}


def test_a_journal_written_before_compression_reads_back() -> None:
    """Journals of the text format (one JSON text field per payload part, no `encoding`)
    are read as they were written: recovery after an upgrade meets them."""
    for batch in batches_of(1000, 500):
        doc, _ = batch.documents("writer", NOW)
        assert doc["encoding"] == journal.COMPRESSED
        payload = orjson.loads(zlib.decompress(doc.pop("payload")))
        del doc["encoding"], doc["payload_bytes"]
        old = doc | {name: orjson.dumps(value).decode() for name, value in payload.items()}
        assert JournalBatch.from_document(old) == batch


def test_a_large_batch_is_written_in_parts(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above INLINE_BYTES the payload goes to parts; the batch document, inserted last,
    names them, and recovery reads the batch back whole."""
    monkeypatch.setattr(journal, "INLINE_BYTES", 10_000)
    monkeypatch.setattr(journal, "PART_BYTES", 16_000)
    (batch,) = batches_of(2000, 2000)
    doc, parts = batch.documents("writer", NOW)
    assert len(parts) > 2 and len(doc["parts"]) == len(parts)
    assert "payload" not in doc
    written = sum(len(part["data"]) for part in parts)
    assert 16_000 * 2 < written < JournalBatch.payload_bytes(doc) / 4  # compressed

    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    store.ensure_indexes(dbs)
    store.insert_journal(dbs, doc, parts)
    store.insert_journal(dbs, doc, parts)  # a retry after a lost reply: still one batch
    ((stored, data),) = store.recent_journal(dbs, 0, 0, -1)
    assert data is not None
    assert JournalBatch.from_document(stored, data) == batch


def test_each_reply_key_gets_the_reply_the_dedupe_memory_keeps() -> None:
    """A reply is encoded once, by the dedupe memory, and the same bytes go to its reply
    key; a batch read back from the journal encodes its replies again, to the same JSON.
    Retries inside the batch get the first reply's bytes."""
    state = new_state(0, {s.symbol: s for s in load_settings({"SBS_SYMBOLS": SYMBOLS}).symbols})
    raws = [dump_command(c) for c in CommandSource(seed=5).take(300)]
    entries = [Entry(f"{n + 1}-0", raw) for n, raw in enumerate(raws + raws[:50])]
    result = state.apply(entries, NOW)
    assert result.duplicates == 50
    batch = JournalBatch.of(0, 1, result)
    back = JournalBatch.from_document(batch.documents("writer", NOW)[0])
    assert back.encoded_replies == {}
    for each in (batch, back):
        keys_, args = publish_arguments(each)
        # script_arguments: six counts and settings, the acks, then one value per key.
        sent = dict(zip(keys_, args[6 + len(each.stream_ids) :], strict=False))
        for command_id, reply in result.replies.items():
            value = sent[keys.reply(command_id)]
            assert isinstance(value, bytes) and orjson.loads(value) == reply
            assert value == state.memory.encoded_reply(command_id)
