"""CPU per command of the matcher's own work, stage by stage, in one process, no I/O.

`python -m bench.matcher` measures the real process against real servers, where the
stages share one GIL and two cores with Valkey and FerretDB, so its per-stage seconds
mix work with waiting. This harness runs the same code on the same command mix
(bench/command_stream.py, bench.matcher's workload) with nothing else in the process:

- `apply`: ShardState.apply on batches of `--batch` raw stream entries (parse, convert,
  engine, order views and documents, replies, dedupe memory, depth snapshots);
- `journal`: building and encoding the batch's journal document (JournalBatch, BSON);
- `publish`: encoding what the Redis script call sends (order and depth caches, replies,
  recent-writes index), without sending it.

One JSON line: `{"commands", "batch", "us_per_command": {stage: µs}, "total_us",
"calibration_msgs_per_s", "drain_ceiling_ratio"}`, the best of `--repeat` runs per stage,
measured with the process's CPU clock. `drain_ceiling_ratio` is 1 / `total_us` as a
multiple of calibration: the fastest drain the matcher's own CPU allows, before any
server, client library or thread takes its share.

    python -m bench.apply --json
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from typing import Any

import bson

from bench.calibration import calibration_msgs_per_s
from bench.command_stream import CommandSource
from lib.commands import dump_command
from lib.config import SymbolSpec, load_settings
from matcher.service.batch import BatchResult, Entry
from matcher.service.journal import JournalBatch
from matcher.service.recovery import new_state
from matcher.service.stream import publish_arguments

SYMBOLS = "ACME,GLOBEX"  # bench.matcher's
FIRST_NS = 1_795_000_000_000_000_000


def specs() -> dict[str, SymbolSpec]:
    settings = load_settings({"SBS_SYMBOLS": SYMBOLS})
    return {spec.symbol: spec for spec in settings.symbols}


def batches(commands: int, size: int, seed: int = 7) -> list[list[Entry]]:
    source = CommandSource(seed)
    raws = [dump_command(source.next()) for _ in range(commands)]
    return [
        [Entry(f"{n + 1}-0", raw) for n, raw in enumerate(raws[start : start + size], start)]
        for start in range(0, commands, size)
    ]


def applied(work: list[list[Entry]], spec_map: dict[str, SymbolSpec]) -> list[BatchResult]:
    state = new_state(0, spec_map)
    return [state.apply(batch, FIRST_NS + n * 1_000_000) for n, batch in enumerate(work)]


def journal_bson(batch: JournalBatch) -> list[bytes]:
    """The journal documents as the driver sends them (BSON), parts first."""
    doc, parts = batch.documents("bench", FIRST_NS)
    return [bson.encode(part) for part in parts] + [bson.encode(doc)]


def cpu_us(run: Callable[[], Any], commands: int) -> float:
    gc.collect()
    started = time.process_time()
    run()
    return (time.process_time() - started) / commands * 1e6


def measure(commands: int, size: int, repeat: int) -> dict[str, float]:
    spec_map = specs()
    work = batches(commands, size)
    results = applied(work, spec_map)
    journal = [JournalBatch.of(0, n, result) for n, result in enumerate(results)]
    stages: dict[str, Callable[[], Any]] = {
        "apply": lambda: applied(work, spec_map),
        "journal": lambda: [journal_bson(batch) for batch in journal],
        "publish": lambda: [publish_arguments(batch) for batch in journal],
    }
    return {
        name: round(min(cpu_us(run, commands) for _ in range(repeat)), 2)
        for name, run in stages.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=1000, help="commands per batch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-calibration", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    stages = measure(args.commands, args.batch, args.repeat)
    total = sum(stages.values())
    calibration = None if args.no_calibration else calibration_msgs_per_s()
    result: dict[str, Any] = {
        "commands": args.commands,
        "batch": args.batch,
        "us_per_command": stages,
        "total_us": round(total, 2),
        "calibration_msgs_per_s": calibration,
        # The drain this CPU alone allows, if Redis, MongoDB and the other threads cost
        # the loop nothing: beside bench.matcher's drain target (0.02 x calibration).
        "drain_ceiling_ratio": None if calibration is None else round(1e6 / total / calibration, 4),
    }
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
