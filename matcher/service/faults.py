"""Named crash and pause points, for the fault tests (docs/MATCHER.md, "Failure model").

    SBS_CRASH_AT=journal:3          os._exit(70) the 3rd time the point `journal` is passed
    SBS_PAUSE_AT=projection.open_delete:1   SIGSTOP the whole process there (the test
                                            SIGCONTs it once a standby has taken over)

Both take a comma-separated list of point:n. They are read once at import; unset, `at`
is a function that does nothing, so production pays one call per batch step.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable

CRASH_EXIT_CODE = 70

POINTS = (
    "apply",  # a batch applied in memory, before its journal insert
    "journal",  # after the journal insert, before the Redis script
    "publish",  # after the Redis script (caches, replies, XACK, XTRIM)
    "projection.trades",  # each write of a projection round, after it
    "projection.history",
    "projection.open_new",
    "projection.open_delete",
    "projection.open_insert",
    "progress.before",  # a round written, its progress not yet
    "progress.after",
    "recovery.redo",  # recovery redid the projections, before its progress write
    "recovery.republish",  # recovery republished a batch to Redis
)


def _parse(value: str | None) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for item in filter(None, (value or "").split(",")):
        point, _, count = item.partition(":")
        if point not in POINTS:
            raise SystemExit(f"unknown fault point {point!r}; known: {', '.join(POINTS)}")
        wanted[point] = int(count or 1)
    return wanted


_CRASH = _parse(os.environ.get("SBS_CRASH_AT"))
_PAUSE = _parse(os.environ.get("SBS_PAUSE_AT"))
_passed: Counter[str] = Counter()
_lock = threading.Lock()


def _at(point: str) -> None:
    with _lock:
        _passed[point] += 1
        count = _passed[point]
    if _CRASH.get(point) == count:
        print(f"fault point {point}:{count}: exiting", file=sys.stderr, flush=True)
        os._exit(CRASH_EXIT_CODE)
    if _PAUSE.get(point) == count:
        print(f"fault point {point}:{count}: pausing", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)


def _nothing(point: str) -> None:
    return None


at: Callable[[str], None] = _at if (_CRASH or _PAUSE) else _nothing
