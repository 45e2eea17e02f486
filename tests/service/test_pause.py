"""A leader paused past its lease (SIGSTOP: a long GC, a frozen VM, a stalled disk) must
step down when it resumes, and nothing it writes afterwards may survive.

A paused process cannot tell that it was paused: when it wakes up, every thread carries
on from where it stopped, with a lease it believes it still holds. The failure model
(docs/MATCHER.md) says that every write of a leadership stint is fenced - the Redis
scripts by the lease token, the journal by its unique batch id and writer, the
projections by a client-side deadline of the lease's remaining time, the progress
document by the epoch - so whatever the old leader sends after its successor took over
is refused. These tests pause a leader at each named point of its batch cycle (the
process stops itself there: SBS_PAUSE_AT), at random moments, and in the middle of
recovery, while commands keep arriving, and then require the final state to be exactly
that of an uninterrupted run (the in-process replay).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.command_stream import CommandSource
from lib.commands import QueuedCommand
from tests.service.harness import (
    MatcherProcess,
    ServiceEnv,
    assert_matches_replay,
    produce,
    replay,
    wait_replies,
)

LEASE_MS = 1000
LEASE_S = LEASE_MS / 1000
PAUSED_AT_LEAST_S = 1.5 * LEASE_S  # every pause outlasts the lease
CHUNK = 24  # commands per XADD pipeline ...
CHUNK_EVERY_S = 0.1  # ... at this pace: ~230 commands/s, a steady trickle of small batches
MIN_COMMANDS = 1200
MAX_COMMANDS = 4000
RETRY_SHARE = 0.03  # commands XADDed a second time, as an SDK retry would
MORE_APPLIED = 100  # what the new leader applies before the old one is resumed
STEP_DOWN_S = 5.0  # "within a few seconds"

# The points a leader passes while serving (matcher/service/faults.py POINTS), and the
# time each is passed at the moment of the pause: batches come every ~0.1 s, projection
# rounds every ~1 s (projector.ROUND_DELAY_S), so each pause lands mid-stream.
ALL_SERVING_POINTS = [
    ("apply", 20),
    ("journal", 20),
    ("publish", 20),
    ("projection.trades", 2),
    ("projection.history", 2),
    ("projection.open_new", 2),
    ("projection.open_delete", 2),
    ("projection.open_insert", 2),
    ("progress.before", 2),
    ("progress.after", 2),
]
# `make test` pauses at one point of each kind of write - a Redis script, the journal, a
# projection write, the progress - which is where the fences differ; the long fault mode
# (SBS_LONG_FAULTS=1, as test_crash.py) pauses at every point.
LONG = os.environ.get("SBS_LONG_FAULTS") == "1"
SERVING_POINTS = [
    (point, nth)
    for point, nth in ALL_SERVING_POINTS
    if LONG or point in {"publish", "journal", "projection.open_delete", "progress.after"}
]


class Producer:
    """Feeds shard 0 from a thread at a steady pace until told to finish, so pauses,
    takeovers and step-downs all happen while commands keep arriving. A few commands are
    sent twice (an SDK retry of one of the last 50): they must get their first reply."""

    def __init__(self, client: redis.Redis, seed: int) -> None:
        self.client = client
        self.source = CommandSource(seed=seed)
        self.rnd = random.Random(seed)
        self.raws: list[str] = []
        self.command_ids: set[str] = set()
        self.error: BaseException | None = None
        self._sent: list[QueuedCommand] = []
        self._finish = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def _chunk(self) -> list[QueuedCommand]:
        chunk: list[QueuedCommand] = []
        for command in self.source.take(CHUNK):
            chunk.append(command)
            self._sent.append(command)
            if len(self._sent) > 50 and self.rnd.random() < RETRY_SHARE:
                chunk.append(self._sent[-self.rnd.randint(2, 50)])
        return chunk

    def _run(self) -> None:
        try:
            while len(self.raws) < MAX_COMMANDS and not (
                self._finish.is_set() and len(self.raws) >= MIN_COMMANDS
            ):
                chunk = self._chunk()
                self.raws.extend(produce(self.client, chunk))
                self.command_ids.update(c.command_id for c in chunk)
                time.sleep(CHUNK_EVERY_S)
        except BaseException as exc:
            self.error = exc

    def finish(self) -> list[str]:
        """Stop producing (once MIN_COMMANDS are out); every raw command, in stream order."""
        self._finish.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the producer did not finish"
        if self.error is not None:
            raise self.error
        return self.raws


# ----------------------------------------------------------------- process control


def pid_of(process: MatcherProcess) -> int:
    """The matcher's own pid: ManagedProcess runs `python -m matcher` directly (no shell),
    as the leader of a process group of its own."""
    pid = process.process.pid
    assert pid is not None, f"{process.process.name} is not running"
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"matcher" in cmdline and os.getpgid(pid) == pid, cmdline
    return pid


def run_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat (R, S, D, T = stopped, Z, ...)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def wait_stopped(process: MatcherProcess, timeout: float = 60.0) -> float:
    """Until the process is seen stopped (state T); returns when that was observed."""
    pid = pid_of(process)
    deadline = time.monotonic() + timeout
    while (state := run_state(pid)) != "T":
        assert state != "Z", f"{process.process.name} died:\n{process.log()}"
        assert time.monotonic() < deadline, (
            f"{process.process.name} never stopped (state {state}):\n{process.log()}"
        )
        time.sleep(0.005)
    return time.monotonic()


def pause(process: MatcherProcess) -> float:
    os.killpg(pid_of(process), signal.SIGSTOP)
    return wait_stopped(process, timeout=5)


def resume(process: MatcherProcess) -> None:
    os.killpg(pid_of(process), signal.SIGCONT)
    deadline = time.monotonic() + 5
    while run_state(pid_of(process)) == "T":
        assert time.monotonic() < deadline, f"{process.process.name} did not continue"
        time.sleep(0.005)


def health(process: MatcherProcess) -> dict[str, object]:
    """/health of a running (not stopped) process; {} while it cannot answer."""
    try:
        return process.health()
    except OSError:
        return {}


def leads(process: MatcherProcess) -> bool:
    found = health(process)
    return bool(found) and found["lease_holder"] == found["consumer"] and found["role"] == "leader"


def wait_leading(process: MatcherProcess, timeout: float = 30.0) -> float:
    """Until `process` holds the lease and has recovered; returns how long that took."""
    started = time.monotonic()
    while not leads(process):
        assert time.monotonic() - started < timeout, (
            f"{process.process.name} never took over: {health(process)}\n{process.log()}"
        )
        time.sleep(0.01)
    return time.monotonic() - started


def applied(process: MatcherProcess) -> int:
    value = health(process).get("commands_applied", 0)
    assert isinstance(value, int)
    return value


def wait_applied(process: MatcherProcess, at_least: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while applied(process) < at_least:
        assert time.monotonic() < deadline, (
            f"{process.process.name} applied only {applied(process)} of {at_least}:\n"
            f"{process.log()}"
        )
        time.sleep(0.02)


def step_downs(process: MatcherProcess) -> int:
    """Stints the process has logged the end of (lease lost, gave up, fenced out)."""
    text = process.process.log_path.read_text(errors="replace")
    return len(re.findall(r"stopped leading shard 0|fenced out", text))


def resume_and_wait_stepped_down(process: MatcherProcess, timeout: float = STEP_DOWN_S) -> float:
    """SIGCONT, then until the process reports itself a standby that does not hold the
    lease, having logged why its stint ended; returns how long that took."""
    ended = step_downs(process)
    resume(process)
    started = time.monotonic()
    while True:
        found = health(process)
        if found and found["role"] == "standby" and found["lease_holder"] != found["consumer"]:
            assert step_downs(process) == ended + 1, process.log()
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, (
            f"{process.process.name} did not step down within {timeout}s: {found}\n{process.log()}"
        )
        time.sleep(0.02)


def outlast_the_lease(stopped_at: float) -> None:
    left = stopped_at + PAUSED_AT_LEAST_S - time.monotonic()
    if left > 0:
        time.sleep(left)


@contextlib.contextmanager
def matchers(env: ServiceEnv) -> Iterator[list[MatcherProcess]]:
    """Every matcher a test starts, continued (a stopped process ignores SIGTERM) and
    terminated at the end, whatever happened."""
    started: list[MatcherProcess] = []
    try:
        yield started
    finally:
        for process in started:
            pid = process.process.pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGCONT)
        for process in started:
            process.terminate()


def settle(env: ServiceEnv, producer: Producer, leader: MatcherProcess) -> list[str]:
    """Finish producing, wait for every reply and the projections; the raw commands."""
    raws = producer.finish()
    wait_replies(env.redis(), producer.command_ids, timeout=120)
    leader.wait_projected(timeout=120)
    assert leads(leader), health(leader)
    return raws


# ----------------------------------------------------------------------- the tests


@pytest.mark.parametrize(("point", "nth"), SERVING_POINTS, ids=[p for p, _ in SERVING_POINTS])
def test_a_leader_paused_at_a_point_steps_down_and_its_late_writes_do_not_survive(
    service_env: ServiceEnv, point: str, nth: int
) -> None:
    client = service_env.redis()
    with matchers(service_env) as started:
        first = service_env.matcher("first", lease_ms=LEASE_MS, SBS_PAUSE_AT=f"{point}:{nth}")
        started.append(first.start())
        first.wait_role("leader")
        second = service_env.matcher("second", lease_ms=LEASE_MS)
        started.append(second.start())
        second.wait_role("standby")
        producer = Producer(client, seed=zlib.crc32(point.encode())).start()

        stopped_at = wait_stopped(first)
        assert f"fault point {point}:{nth}: pausing" in first.log()
        took = wait_leading(second)
        wait_applied(second, MORE_APPLIED)
        outlast_the_lease(stopped_at)
        assert run_state(pid_of(first)) == "T"  # still stopped when the successor led

        stepped_down = resume_and_wait_stepped_down(first)
        assert leads(second)
        time.sleep(0.5)  # more commands after the old leader is back
        raws = settle(service_env, producer, second)
        assert applied(second) >= MORE_APPLIED
    print(f"{point}: took over {took:.2f}s after the pause, stepped down {stepped_down:.2f}s "
          f"after SIGCONT, {len(raws)} commands")  # fmt: skip
    assert_matches_replay(service_env, replay(raws))


PAUSES = 4


def test_leaders_paused_at_random_moments_step_down(service_env: ServiceEnv) -> None:
    rnd = random.Random(20261130)
    client = service_env.redis()
    with matchers(service_env) as started:
        leader = service_env.matcher("first", lease_ms=LEASE_MS)
        started.append(leader.start())
        leader.wait_role("leader")
        standby = service_env.matcher("second", lease_ms=LEASE_MS)
        started.append(standby.start())
        standby.wait_role("standby")
        producer = Producer(client, seed=77).start()
        timings = []
        for _ in range(PAUSES):
            time.sleep(rnd.uniform(0.2, 1.5))
            before = applied(standby)
            stopped_at = pause(leader)
            took = wait_leading(standby)
            wait_applied(standby, before + MORE_APPLIED)
            outlast_the_lease(stopped_at)
            assert run_state(pid_of(leader)) == "T"
            timings.append((took, resume_and_wait_stepped_down(leader)))
            assert leads(standby)
            leader, standby = standby, leader
        time.sleep(0.5)
        raws = settle(service_env, producer, leader)
    print(f"{PAUSES} pauses (took over, stepped down): {timings}, {len(raws)} commands")
    assert_matches_replay(service_env, replay(raws))


@pytest.mark.parametrize("point", ["recovery.redo", "recovery.republish"])
def test_a_leader_paused_in_recovery_steps_down(service_env: ServiceEnv, point: str) -> None:
    """The standby that takes over from a killed leader pauses in its recovery; a third
    matcher takes over from it, and it steps down once resumed."""
    client = service_env.redis()
    with matchers(service_env) as started:
        first = service_env.matcher("first", lease_ms=LEASE_MS)
        started.append(first.start())
        first.wait_role("leader")
        second = service_env.matcher("second", lease_ms=LEASE_MS, SBS_PAUSE_AT=f"{point}:1")
        started.append(second.start())
        second.wait_role("standby")
        producer = Producer(client, seed=5).start()
        wait_applied(first, 300)
        # recovery.redo needs committed batches not projected yet: the projections run
        # about a second behind, so kill while they are.
        deadline = time.monotonic() + 30
        while True:
            found = health(first)
            last, projected = found["last_batch"], found["projected_batch"]
            assert isinstance(last, int) and isinstance(projected, int)
            if last - projected >= 2:
                break
            assert time.monotonic() < deadline, found
            time.sleep(0.01)
        first.kill()

        stopped_at = wait_stopped(second)
        assert f"fault point {point}:1: pausing" in second.log()
        third = service_env.matcher("third", lease_ms=LEASE_MS)
        started.append(third.start())
        took = wait_leading(third)
        wait_applied(third, MORE_APPLIED)
        outlast_the_lease(stopped_at)
        assert run_state(pid_of(second)) == "T"

        stepped_down = resume_and_wait_stepped_down(second)
        assert leads(third)
        time.sleep(0.5)
        raws = settle(service_env, producer, third)
    print(f"{point}: third led {took:.2f}s after answering /health, the second stepped down "
          f"{stepped_down:.2f}s after SIGCONT, {len(raws)} commands")  # fmt: skip
    assert_matches_replay(service_env, replay(raws))
