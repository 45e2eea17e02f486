"""Lost replies: a request of the matcher reached Redis or MongoDB and ran, and its answer
never came back.

This is the fault that durability code actually meets on a flaky network, and the one an
outage test cannot produce: the server did the work (entries delivered to our consumer,
a journal document inserted, caches written and entries acknowledged, an epoch raised),
but the client only sees a broken connection, exactly as if nothing had happened. So it
must retry, and every retry must be harmless: a read must not skip or repeat entries, a
journal insert must recognise its own document, a projection round must be redone as a
redo, a take-over must simply take a newer epoch. tests/faultproxy.py sits between the
matcher process and the server and cuts the connection after the server's answer to the
aimed request, for every request the matcher sends on its way from reading a command to
projecting it.

Each case runs a seeded workload fed in chunks while cuts are armed at several moments,
checks that every armed cut happened and that the matcher's retry loop met it (and that
it absorbed it without giving up its leadership), then compares everything the matcher
left in MongoDB and Redis with an uninterrupted in-process replay: nothing lost, nothing
applied twice, a reply for every command.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import redis

from bench.command_stream import CommandSource
from lib import keys
from lib.commands import QueuedCommand
from matcher.service import stream
from matcher.service.faults import CRASH_EXIT_CODE
from matcher.service.store import journal_db_name
from tests.faultproxy import FaultProxy, Request, WireProtocol
from tests.service.harness import (
    MatcherProcess,
    ServiceEnv,
    assert_matches_replay,
    produce,
    replay,
    wait_replies,
)

COMMANDS = 2500
CHUNK = 250  # commands per XADD pipeline: a batch or two each
GAP_S = 0.2  # between chunks, so batches keep arriving while cuts are armed
CUT_TIMEOUT_S = 30.0  # for an armed cut to fire
SEED = 41

Match = Callable[[Request], bool]

# The matcher calls its scripts with EVALSHA (EVAL only if a client falls back to it).
READ_SHA = hashlib.sha1(stream._READ.encode()).hexdigest()
PUBLISH_SHA = hashlib.sha1(stream._PUBLISH.encode()).hexdigest()


def calls_script(request: Request, script: str, sha: str) -> bool:
    return request.name in ("EVALSHA", "EVAL") and request.target in (sha, script)


def read_new(request: Request) -> bool:
    """The fenced XREADGROUP of new entries (its last argument, the id, is `>`)."""
    return calls_script(request, stream._READ, READ_SHA) and request.args[-1] == b">"


def read_pending(request: Request) -> bool:
    """The fenced XREADGROUP of this consumer's pending entries, after a cursor."""
    return calls_script(request, stream._READ, READ_SHA) and request.args[-1] != b">"


def publish(request: Request) -> bool:
    """The publish script: caches, replies, XACK and XTRIM in one call."""
    return calls_script(request, stream._PUBLISH, PUBLISH_SHA)


def redis_request(match: Match) -> Callable[[str], Match]:
    return lambda _db_name: match


def mongo_request(command: str, collection: str, journal: bool = False) -> Callable[[str], Match]:
    """`command` on `collection` of the test's database (or of its journal database)."""

    def for_db(db_name: str) -> Match:
        db = journal_db_name(db_name) if journal else db_name

        def match(request: Request) -> bool:
            return request.name == command and request.target == collection and request.db == db

        return match

    return for_db


@dataclass(frozen=True, slots=True)
class Aim:
    """One request to lose the reply of, and when."""

    protocol: WireProtocol
    request: Callable[[str], Match]  # given the test's database name
    steps: tuple[str, ...]  # the matcher's retry loop logs "<step> failed (...); retrying"
    at_start: int = 0  # cuts armed before the matcher starts: requests of its start-up
    arm_before: tuple[int, ...] = (0, 4, 8)  # chunks before which one more cut is armed
    gap_s: float = GAP_S


# A projection round runs about once a second, and the first one deletes nothing from
# open_orders (every order in it is new): slower chunks, so that rounds keep coming, and
# the second cut is armed once the first has happened.
PROJECTION_GAP_S = 0.4


def projection(command: str, collection: str, step: str = "projection write") -> Aim:
    return Aim("mongodb", mongo_request(command, collection), (step,), 0, (0, 5), PROJECTION_GAP_S)


TAKE_OVER = Aim(
    "mongodb", mongo_request("findAndModify", "matcher_state"), ("take over the shard",), 2, ()
)

AIMS = [
    pytest.param(Aim("redis", redis_request(read_new), ("read the stream",)), id="redis-read-new"),
    # At start-up (the depth cache), then after batches were committed, twice.
    pytest.param(
        Aim("redis", redis_request(publish), ("publish depth", "publish to Redis"), 1, (3, 7)),
        id="redis-publish",
    ),
    pytest.param(
        Aim("mongodb", mongo_request("insert", "journal", journal=True), ("journal insert",)),
        id="mongodb-journal-insert",
    ),
    pytest.param(projection("insert", "trades"), id="mongodb-trades-insert"),
    pytest.param(projection("insert", "orders"), id="mongodb-orders-insert"),
    pytest.param(projection("insert", "open_orders"), id="mongodb-open-orders-insert"),
    pytest.param(projection("delete", "open_orders"), id="mongodb-open-orders-delete"),
    pytest.param(projection("update", "matcher_state", "progress"), id="mongodb-progress-update"),
    # Twice in a row: the take-over and its first retry both lose their answer.
    pytest.param(TAKE_OVER, id="mongodb-take-over"),
]


# ---------------------------------------------------------------- helpers


@contextmanager
def proxy_to(url: str, protocol: WireProtocol) -> Iterator[FaultProxy]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with FaultProxy(parts.hostname, parts.port, protocol) as proxy:
        yield proxy


def through(env: ServiceEnv, proxy: FaultProxy, name: str = "matcher") -> MatcherProcess:
    """A matcher whose Redis or MongoDB connections all go through `proxy`."""
    if proxy.protocol == "redis":
        return env.matcher(name, REDIS_URL=proxy.url(env.redis_url))
    return env.matcher(name, MONGODB_URI=proxy.url(env.mongodb_uri))


def feed(
    client: redis.Redis,
    proxy: FaultProxy,
    match: Match | None,
    commands: list[QueuedCommand],
    armed: int,
    arm_before: tuple[int, ...] = (),
    gap_s: float = GAP_S,
) -> tuple[list[str], int]:
    """Produce `commands` in chunks, arming one more cut before each chunk in `arm_before`,
    or before a later one if an earlier cut has not happened yet (so that each lands at a
    moment of its own, and commands keep coming meanwhile); returns the raw commands in
    stream order and how many cuts were armed in all (`armed` of them before)."""
    schedule = sorted(arm_before)
    raws: list[str] = []
    for index, start in enumerate(range(0, len(commands), CHUNK)):
        if schedule and index >= schedule[0] and proxy.cuts >= armed:
            assert match is not None
            schedule.pop(0)
            proxy.cut_reply(match)
            armed += 1
        raws += produce(client, commands[start : start + CHUNK])
        time.sleep(gap_s)
    assert not schedule, f"{len(schedule)} cuts never armed: {proxy.cuts} of {armed} happened"
    assert proxy.wait_cuts(armed, CUT_TIMEOUT_S), (
        f"only {proxy.cuts} of {armed} armed cuts happened"
    )
    return raws, armed


def retries(matcher: MatcherProcess) -> int:
    found = re.search(r"sbs_matcher_io_retries_total\{[^}]*\} (\d+)", matcher.metrics())
    assert found is not None
    return int(found.group(1))


def finish(matcher: MatcherProcess, client: redis.Redis, commands: list[QueuedCommand]) -> None:
    """Every reply, then the projections caught up."""
    wait_replies(client, {c.command_id for c in commands}, timeout=60)
    matcher.wait_projected()


def check_absorbed(log: str, cuts: int, retried: int, steps: tuple[str, ...]) -> None:
    """The cuts reached the steps aimed at, each was retried, and none cost the
    leadership (a lost reply is retried in place, not recovered from)."""
    assert retried >= cuts, f"{cuts} cuts but only {retried} retries"
    for step in steps:
        assert f"{step} failed" in log, f"no failure of {step!r} in the matcher's log"
    assert log.count("leading shard 0 as") == 1, "the matcher had to lead again"
    assert "state dropped" not in log


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("aim", AIMS)
def test_lost_reply_is_retried_harmlessly(service_env: ServiceEnv, aim: Aim) -> None:
    commands = CommandSource(seed=SEED).take(COMMANDS)
    client = service_env.redis()
    url = service_env.redis_url if aim.protocol == "redis" else service_env.mongodb_uri
    match = aim.request(service_env.db_name)
    with proxy_to(url, aim.protocol) as proxy:
        if aim.at_start:
            proxy.cut_reply(match, times=aim.at_start)
        matcher = through(service_env, proxy).start()
        try:
            matcher.wait_role("leader")
            raws, armed = feed(
                client, proxy, match, commands, aim.at_start, aim.arm_before, aim.gap_s
            )
            finish(matcher, client, commands)
            retried = retries(matcher)
        finally:
            stopped = matcher.terminate()
            proxy.disarm()
        cuts = proxy.cuts
    assert stopped == 0, matcher.log()
    assert armed >= 1
    assert cuts >= armed, f"{cuts} of {armed} cuts happened"
    check_absorbed(matcher.process.log_path.read_text(), cuts, retried, aim.steps)
    assert_matches_replay(service_env, replay(raws))


def test_lost_reply_to_pending_reads_at_start_up(service_env: ServiceEnv) -> None:
    """A matcher dies with entries read but not committed; its successor's reads of those
    pending entries (from cursor 0-0, then from the cursor after them) lose their answers."""
    commands = CommandSource(seed=SEED + 1).take(COMMANDS)
    first, rest = commands[:1500], commands[1500:]
    client = service_env.redis()
    # Exits before its second batch's journal insert: that batch (and any read after it)
    # stays pending. A short lease, so that its successor need not wait long.
    crashing = service_env.matcher("crashing", lease_ms=1000, SBS_CRASH_AT="apply:2").start()
    try:
        crashing.wait_role("leader")
        raws = produce(client, first)
        deadline = time.monotonic() + 30
        while crashing.process.running and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        status = crashing.terminate()
    assert status == CRASH_EXIT_CODE, crashing.log()
    pending = client.xpending(keys.command_stream(0), keys.CONSUMER_GROUP)["pending"]
    assert pending > 0

    cut_at: list[bytes] = []  # the cursors whose read lost its answer

    def new_cursor(request: Request) -> bool:
        # Each cursor once: the retry from the same cursor goes through, the next is cut.
        if not read_pending(request) or request.args[-1] in cut_at:
            return False
        cut_at.append(request.args[-1])
        return True

    with proxy_to(service_env.redis_url, "redis") as proxy:
        proxy.cut_reply(new_cursor, times=2)
        matcher = through(service_env, proxy).start()
        try:
            assert proxy.wait_cuts(2, CUT_TIMEOUT_S), f"only {proxy.cuts} of 2 cuts happened"
            more, _ = feed(client, proxy, None, rest, 2)
            raws += more
            finish(matcher, client, commands)
            retried = retries(matcher)
        finally:
            stopped = matcher.terminate()
            proxy.disarm()
        cuts = proxy.cuts
    assert stopped == 0, matcher.log()
    assert cuts >= 2
    assert cut_at[0] == b"0-0" and len(cut_at) == 2, cut_at
    check_absorbed(matcher.process.log_path.read_text(), cuts, retried, ("read the stream",))
    assert_matches_replay(service_env, replay(raws))
