"""The compiled core (mypyc) is what runs, is never stale, and agrees with plain Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import matcher.core.book
from matcher.core._compiled import compiled_modules

ROOT = Path(__file__).resolve().parents[2]

# A seeded stream through every command type, printed one event per line.
SCRIPT = """
import random
import matcher.core.book
from matcher.core import *
print("compiled" if matcher.core.book.__file__.endswith(".so") else "plain")
rng = random.Random(11)
engine = MatchingEngine([Instrument("ACME", 10_000), Instrument("GLOBEX", 10_000)], "T-")
ids = []
for t in range(3000):
    roll = rng.random()
    if roll < 0.6 or not ids:
        oid = f"o{t}"
        ids.append(oid)
        market = rng.random() < 0.1
        side = rng.choice([Side.BUY, Side.SELL])
        cmd = PlaceOrder(
            oid, rng.choice("abc"), rng.choice(["ACME", "GLOBEX"]), side,
            rng.randint(1, 50), None if market else rng.randint(95, 105),
            OrderType.MARKET if market else OrderType.LIMIT,
            rng.choice(list(TimeInForce)) if not market else TimeInForce.IOC,
        )
    elif roll < 0.8:
        cmd = CancelOrder(rng.choice(ids), rng.choice("abc"))
    else:
        price, qty = rng.randint(95, 105), rng.randint(1, 60)
        cmd = ModifyOrder(rng.choice(ids), rng.choice("abc"), price, qty)
    for event in engine.execute(cmd, t):
        print(repr(event))
"""


def run_stream(pythonpath: Path) -> tuple[str, str]:
    """(which core ran, its events)."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=pythonpath,  # `python -c` puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=True,
    )
    origin, _, events = result.stdout.partition("\n")
    return origin, events


def test_the_compiled_core_is_the_one_imported() -> None:
    # `make test` compiles the core first; a plain-Python run would hide a mypyc problem.
    assert compiled_modules(), "matcher/core has no compiled modules: run `make core`"
    assert matcher.core.book.__file__ is not None
    assert matcher.core.book.__file__.endswith(".so")


def test_plain_python_fallback_yields_the_same_events(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "matcher", tmp_path / "matcher", ignore=shutil.ignore_patterns("*.so"))
    origin, compiled = run_stream(ROOT)
    assert origin == "compiled"
    origin, plain = run_stream(tmp_path)
    assert origin == "plain"
    assert compiled.count("TradeExecuted") > 100  # the stream really trades
    assert compiled == plain


def test_a_stale_compiled_module_refuses_to_import(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "matcher", tmp_path / "matcher")
    source = tmp_path / "matcher" / "core" / "book.py"
    later = time.time() + 10
    os.utime(source, (later, later))
    result = subprocess.run(
        [sys.executable, "-c", "import matcher.core"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "make core" in result.stderr
    assert "book.py" in result.stderr
