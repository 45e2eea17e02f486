"""bench/apply.py measures the matcher's real stages: the batches it applies answer every
command, and the publish arguments it times are the ones the Redis script is sent."""

from __future__ import annotations

from bench.apply import applied, batches, measure, specs
from matcher.service.journal import JournalBatch
from matcher.service.stream import publish_arguments


def test_every_command_of_the_workload_is_answered() -> None:
    work = batches(3000, 500)
    results = applied(work, specs())
    assert [len(r.replies) for r in results] == [500] * 6
    assert sum(r.applied for r in results) > 2500  # most reach the engine
    assert sum(len(r.trades) for r in results) > 0


def test_the_publish_arguments_cover_the_batch() -> None:
    result = applied(batches(500, 500), specs())[0]
    batch = JournalBatch.of(0, 0, result)
    keys, args = publish_arguments(batch)
    cached, _ttl, trim_below, acks = args[0], args[1], args[2], args[3]
    assert cached == len(batch.public_orders) + len(batch.depth)
    assert acks == 500 and trim_below == batch.last_stream_id
    assert args[4] == cached + len(batch.replies)  # SET keys: the caches, then the replies
    assert len(keys) == args[4] + len({k for k in keys[args[4] :]})  # then the recent indexes


def test_the_harness_prints_a_figure_per_stage() -> None:
    stages = measure(2000, 500, repeat=1)
    assert set(stages) == {"apply", "journal", "publish"}
    assert all(us > 0 for us in stages.values())
