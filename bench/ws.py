"""Socket.IO benchmark: many websocket clients while orders flow, on a throwaway stack.

    python -m bench.ws --json                     # both configurations (~4 minutes)
    python -m bench.ws --server standalone --clients 500 --seconds 10

Per configuration (`--server`):
  matcher:    SBS_SHARDS=1, the matcher serves Socket.IO itself; clients connect to it.
  standalone: the matcher only emits through Redis and `python -m matcher.realtime`
              serves the clients (`--shards 1`: the matcher keeps its hub but nobody
              connects to it; `--shards 2`: SBS_SHARDS=2 with every symbol on shard 0, so
              shard 0's matcher is an emitter only, as under `make run` with 2 shards).

Each configuration runs two phases on a fresh database and a flushed Redis, the same
seeded commands in both: the baseline without clients, then the same with `--clients`
(default 1,000) websocket clients in `--procs` processes (bench/ws_clients.py, a lean raw
engine.io/socket.io client), every client subscribed to the depth of one symbol and
`--trade-clients` (default 100) of them also to its trades. A phase is:

  flow:  commands (bench/command_stream.py's mix over ACME and GLOBEX, ~0.24 trades per
         command) XADDed straight into the shard's Redis stream with lib.queue at `--rate`
         (default 1,000/s) for `--warmup` + `--seconds` seconds: the API is not in the
         path, so it cannot be the bottleneck;
  burst: `--burst` (default 10,000) more commands enqueued at once, `--bursts` times
         (default 2, each once the projections caught up with the last); the matcher's
         best drain rate (first XADD -> last reply in Redis) is its throughput, with the
         clients connected and receiving the bursts' trades and depth. Best of several,
         because a drain lasts one or two seconds and anything else the machine does in
         them shows.

Lags (ms), in the flow's measured window (`--seconds`, after `--warmup`):
  lag:            arrival at a client - commit, one value per (client, trade event). The
                  commit mark is when the reply of the trade's aggressing command was set
                  in Redis, as Redis itself announces it (keyspace notifications, turned
                  on in the benchmark's own Redis, heard by a tap process): the matcher
                  sets the replies in one script call right after the journal insert (the
                  commit point) and emits the batch's trades right after that script. So
                  `lag` is emit + Redis pub/sub + Socket.IO fan-out + the client's read,
                  give or take the script's own millisecond or two. Only for trades whose
                  aggressor is a place order that was never modified (its command is then
                  known for sure): most of them (`lag_samples`).
  emit_lag:       the trade's message on Socket.IO's Redis channel (seen by the tap) -
                  commit, once per trade: the matcher's share of `lag`.
  fanout_lag:     arrival - the message on the channel: the Socket.IO server's share
                  (with `matcher`, the matcher fans out to its own clients before it
                  publishes to Redis, so this can be negative there).
  submit_lag:     arrival - the aggressing command's XADD: what a trader sees, minus the
                  API (queueing, batching, apply, journal insert and all of the above).
  execution_lag:  arrival - the trade's `execution_timestamp`, the batch's clock reading
                  taken before the batch was applied (ms resolution), every trade.

Throughput: `matcher_commands_per_s` is the best drain rate with the clients,
`baseline_commands_per_s` the same bursts' without them, and `flow_applied_per_s` what the
matcher applied during the flow (it keeps up when that is ~`--rate`). CPU (`cpu_pct`, %
of one core over the flow's window) for every process, the benchmark's own (the sender;
the tap) and the machine (`machine`: 100 x cores means saturated).

Clocks: time.time_ns() in every process, one machine. The client processes, the tap,
the servers, Redis and FerretDB share the machine's cores: on 2 cores the clients' CPU is
taken from the servers, so the figures are a floor for servers on machines of their own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil
import pymongo
import redis

from bench.calibration import calibration_msgs_per_s
from bench.command_stream import CommandSource
from bench.matcher import PROJECT_ROOT, Matcher, percentile, wait_for_reply
from bench.ws_clients import ClientSpec, tap, worker
from devstack import ManagedProcess, free_port, start_stack
from devstack.process import accepts_tcp
from lib import queue
from lib.commands import ModifyCommand, PlaceCommand, QueuedCommand
from lib.config import shard_of
from matcher.realtime.hub import CHANNEL
from matcher.service.store import journal_db_name

SYMBOLS = ("ACME", "GLOBEX")  # both on shard 0 with 1 or 2 shards
LAG_TARGET_P99_MS = 200.0
THROUGHPUT_TOLERANCE = 0.10
CLIENT_READY_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 60.0


@dataclass
class Options:
    clients: int
    trade_clients: int
    procs: int
    rate: int
    warmup: float
    seconds: float
    burst: int
    bursts: int
    shards: int
    max_batch: int
    stack_pids: dict[str, int] = field(default_factory=dict)  # redis, mongodb
    # --pin: the CPUs of the standalone server and the clients (the rest run elsewhere)
    server_cpus: set[int] | None = None


@dataclass
class Flow:
    """What the flow sent, and when (the tap adds when each reply was set)."""

    sent_ns: dict[str, int] = field(default_factory=dict)  # command id -> XADD
    replied_ns: dict[str, int] = field(default_factory=dict)  # command id -> reply set
    commands: list[QueuedCommand] = field(default_factory=list)


@dataclass
class Phase:
    drain_commands_per_s: float
    flow_applied_per_s: float
    emit_lag_p50_ms: float  # commit -> the trade's message on Redis pub/sub (one per trade)
    emit_lag_p99_ms: float
    # % of one core over the flow's window: each process, the benchmark's own (sender,
    # reply poller, tap) and the whole machine's busy time (100 x cores = saturated).
    cpu_pct: dict[str, float]
    clients: dict[str, Any] | None = None
    startup: dict[str, Any] | None = None  # the clients' start-up (`startup_summary`)


# ---------------------------------------------------------------- the servers


@contextmanager
def servers(
    env: dict[str, str], log_dir: Path, server: str, options: Options
) -> Iterator[tuple[Matcher, ManagedProcess | None, str]]:
    """Shard 0's matcher and, for `standalone`, the real-time server; the URL clients use."""
    matcher = Matcher(env, log_dir, options.max_batch)
    matcher.process.start()
    realtime = None
    try:
        while matcher.role() != "leader":
            time.sleep(0.02)
        url = f"http://127.0.0.1:{matcher.port}"
        if server == "standalone":
            port = free_port()
            realtime = ManagedProcess(
                "realtime",
                [
                    *taskset(options.server_cpus),
                    sys.executable,
                    "-m",
                    "matcher.realtime",
                    "--port",
                    str(port),
                ],
                log_path=log_dir / "realtime.log",
                ready=lambda: accepts_tcp(port),
                env=env,
                cwd=PROJECT_ROOT,
            )
            realtime.start()
            url = f"http://127.0.0.1:{port}"
        yield matcher, realtime, url
    finally:
        if realtime is not None:
            realtime.stop()
        matcher.process.stop()


def taskset(cpus: set[int] | None) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []


def cpu_seconds(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


# ---------------------------------------------------------------- the clients


class ClientFleet:
    """`count` websocket clients in `procs` spawned processes (bench/ws_clients.py)."""

    def __init__(self, url: str, options: Options) -> None:
        specs = [
            ClientSpec(SYMBOLS[i % len(SYMBOLS)], trades=i < options.trade_clients)
            for i in range(options.clients)
        ]
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes: list[Any] = []
        for n in range(options.procs):
            mine, theirs = context.Pipe()
            share = specs[n :: options.procs]  # trade clients spread over the processes
            process = context.Process(
                target=worker, args=(theirs, url, share, options.server_cpus), daemon=True
            )
            process.start()
            self.conns.append(mine)
            self.processes.append(process)

    def wait_ready(self) -> tuple[int, int, dict[str, Any]]:
        """(subscribed, not subscribed, the start-up's summary: see `startup_summary`)."""
        connected = failed = 0
        reports = []
        for conn in self.conns:
            if not conn.poll(CLIENT_READY_TIMEOUT_S):
                raise SystemExit("the client processes did not connect in time")
            _, ok, bad, report = conn.recv()
            connected, failed = connected + ok, failed + bad
            reports.append(report)
        return connected, failed, startup_summary(reports, failed)

    def trade_events(self) -> int:
        for conn in self.conns:
            conn.send(("count",))
        return sum(conn.recv()[1] for conn in self.conns)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes if p.pid)

    def wait_quiet(self) -> None:
        """Until the clients have heard everything: their trade events stop growing."""
        last, since = -1, time.monotonic()
        deadline = since + SETTLE_TIMEOUT_S
        while time.monotonic() - since < 1.0 and time.monotonic() < deadline:
            count = self.trade_events()
            if count != last:
                last, since = count, time.monotonic()
            time.sleep(0.2)

    def finish(
        self,
        markers: dict[str, tuple[int, int]],
        tapped: dict[str, int],
        window: tuple[int, int],
    ) -> list[dict[str, Any]]:
        for conn in self.conns:
            conn.send(("stop", markers, tapped, window))
        results = [conn.recv()[1] for conn in self.conns]
        for process in self.processes:
            process.join(timeout=30)
        return results

    def kill(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()


class Tap:
    """A process subscribed to Socket.IO's Redis channel (bench/ws_clients.py `tap`)."""

    def __init__(self, redis_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=tap, args=(theirs, redis_url, CHANNEL), daemon=True)
        self.process.start()
        if not self.conn.poll(60):
            raise SystemExit("the pub/sub tap did not start")
        self.conn.recv()

    def finish(self) -> tuple[dict[str, tuple[int, str]], dict[str, int]]:
        """{trade id: (seen on the channel, aggressor)}, {command id: reply set}, in ns."""
        self.conn.send(("stop",))
        _, trades, replies, failures = self.conn.recv()
        self.process.join(timeout=10)
        if failures:
            raise SystemExit(f"the pub/sub tap failed: {failures[0]}")
        return trades, replies


# ---------------------------------------------------------------- the load


def run_flow(client: redis.Redis, source: CommandSource, rate: int, seconds: float) -> Flow:
    """`rate` commands a second for `seconds`, each XADDed on its schedule; returns once
    the last one's reply exists (the stream is applied in order)."""
    flow = Flow()
    total = int(rate * seconds)
    started = time.perf_counter()
    for n in range(total):
        pause = started + n / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        command = source.next()
        flow.commands.append(command)
        flow.sent_ns[command.command_id] = time.time_ns()
        queue.enqueue(client, command, 1)
    if flow.commands:
        wait_for_reply(client, flow.commands[-1].command_id, timeout=SETTLE_TIMEOUT_S)
    return flow


def drain(client: redis.Redis, source: CommandSource, count: int) -> float:
    """Enqueue `count` commands at once: commands/s until the last one's reply exists."""
    commands = source.take(count)
    started = time.perf_counter()
    for first in range(0, count, 5000):
        pipe = client.pipeline(transaction=False)
        for command in commands[first : first + 5000]:
            queue.enqueue(pipe, command, 1)
        pipe.execute()
    wait_for_reply(client, commands[-1].command_id, timeout=600)
    return count / (time.perf_counter() - started)


def wait_projected(matcher: Matcher) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S * 5
    while (health := matcher.health())["projected_batch"] != health["last_batch"]:
        if time.monotonic() > deadline:
            raise SystemExit("the projections never caught up")
        time.sleep(0.05)


def markers_of(flow: Flow, window: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Place orders sent within `window` and never modified: order id -> (XADD, reply
    seen). A trade whose aggressor is one of them was made by exactly that command."""
    modified = {c.order_id for c in flow.commands if isinstance(c, ModifyCommand)}
    return {
        c.order_id: (flow.sent_ns[c.command_id], flow.replied_ns[c.command_id])
        for c in flow.commands
        if isinstance(c, PlaceCommand)
        and c.order_id not in modified
        and c.command_id in flow.replied_ns
        and window[0] <= flow.sent_ns[c.command_id] <= window[1]
    }


def run_phase(
    base_env: dict[str, str], log_dir: Path, server: str, options: Options, with_clients: bool
) -> Phase:
    env = {**base_env, "MONGODB_DB": f"bench_ws_{uuid.uuid4().hex[:8]}"}
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    # The tap learns when each reply key is set from Redis itself (K: keyspace channel,
    # $: string commands): the bench's own throwaway Redis, so no one else notices.
    client.config_set("notify-keyspace-events", "K$")
    source = CommandSource(seed=3, symbols=SYMBOLS)
    fleet: ClientFleet | None = None
    try:
        with servers(env, log_dir, server, options) as (matcher, realtime, url):
            if with_clients:
                fleet = ClientFleet(url, options)
                connected, failed, startup = fleet.wait_ready()
                say(f"{server}: {connected} clients connected and subscribed, {failed} failed")
                say(f"{server}: start-up {json.dumps(startup)}")
            channel = Tap(env["REDIS_URL"])
            run_flow(client, source, options.rate, options.warmup)  # not measured
            pids = {"matcher": matcher.process.pid or 0, **options.stack_pids}
            if realtime is not None:
                pids["server"] = realtime.pid or 0
            pids["bench"], pids["tap"] = os.getpid(), channel.process.pid or 0
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            cpu["clients"] = fleet.cpu_seconds() if fleet is not None else 0.0
            psutil.cpu_percent()  # the machine's busy time from here
            applied = matcher.metric("sbs_matcher_commands_applied_total")
            window_start, wall = time.time_ns(), time.perf_counter()
            flow = run_flow(client, source, options.rate, options.seconds)
            window = (window_start, time.time_ns())
            took = time.perf_counter() - wall
            machine_pct = psutil.cpu_percent() * (os.cpu_count() or 1)
            cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()} | {
                "clients": fleet.cpu_seconds() - cpu["clients"] if fleet is not None else 0.0
            }
            cpu_pct = {name: round(100 * seconds / took, 1) for name, seconds in cpu.items()}
            cpu_pct["machine"] = round(machine_pct, 1)
            applied = matcher.metric("sbs_matcher_commands_applied_total") - applied
            wait_projected(matcher)
            drain_rate = 0.0
            for _ in range(options.bursts):
                drain_rate = max(drain_rate, drain(client, source, options.burst))
                wait_projected(matcher)
            if fleet is not None:
                fleet.wait_quiet()
            tapped, flow.replied_ns = channel.finish()
            markers = markers_of(flow, window)
            emitted = [
                (seen - markers[aggressor][1]) / 1e6
                for seen, aggressor in tapped.values()
                if aggressor in markers
            ]
            phase = Phase(
                drain_commands_per_s=drain_rate,
                flow_applied_per_s=applied / took,
                emit_lag_p50_ms=round(percentile(emitted, 0.5), 1),
                emit_lag_p99_ms=round(percentile(emitted, 0.99), 1),
                cpu_pct=cpu_pct,
            )
            if fleet is not None:
                results = fleet.finish(markers, {k: v[0] for k, v in tapped.items()}, window)
                phase.clients = summarize(results, trade_counts(env), 100 * cpu["clients"] / took)
                phase.startup = startup
            say(f"{server}, {'with' if with_clients else 'without'} clients: {phase}")
            return phase
    finally:
        if fleet is not None:
            fleet.kill()
        mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(env["MONGODB_URI"])
        mongo.drop_database(env["MONGODB_DB"])
        mongo.drop_database(journal_db_name(env["MONGODB_DB"]))
        mongo.close()


def trade_counts(env: dict[str, str]) -> dict[str, int]:
    """Trades committed per symbol (the projections have caught up)."""
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(env["MONGODB_URI"])
    db = mongo[env["MONGODB_DB"]]
    counts = {symbol: db.trades.count_documents({"symbol": symbol}) for symbol in SYMBOLS}
    mongo.close()
    return counts


def summarize(
    results: list[dict[str, Any]], trades: dict[str, int], clients_cpu_pct: float
) -> dict[str, Any]:
    """The client processes' lags (per client and trade event) and how many trade events
    the trade clients missed (distinct trades heard against those committed)."""

    def lags(name: str) -> list[float]:
        return [lag for result in results for lag in result[name]]

    commit, submit, execution, fanout = (
        lags(f"{name}_lags_ms") for name in ("commit", "submit", "execution", "fanout")
    )
    heard = [(symbol, n) for r in results for symbol, ns in r["trade_ids"].items() for n in ns]
    return {
        "lag_p50_ms": round(percentile(commit, 0.5), 1),
        "lag_p99_ms": round(percentile(commit, 0.99), 1),
        "lag_max_ms": round(max(commit, default=0.0), 1),
        "lag_samples": len(commit),
        "submit_lag_p50_ms": round(percentile(submit, 0.5), 1),
        "submit_lag_p99_ms": round(percentile(submit, 0.99), 1),
        "execution_lag_p50_ms": round(percentile(execution, 0.5), 1),
        "execution_lag_p99_ms": round(percentile(execution, 0.99), 1),
        "fanout_lag_p50_ms": round(percentile(fanout, 0.5), 1),
        "fanout_lag_p99_ms": round(percentile(fanout, 0.99), 1),
        "trades_committed": sum(trades.values()),
        "trade_events_missed": sum(trades[symbol] - n for symbol, n in heard),
        "depth_events": sum(r["depth_events"] for r in results),
        "client_failures": sum(len(r["failed"]) for r in results),
        "client_failure_examples": sorted({f for r in results for f in r["failed"]})[:3],
        "closed_by_server": sum(r["closed_by_server"] for r in results),
        "clients_cpu_pct": round(clients_cpu_pct, 1),
    }


def startup_summary(reports: list[dict[str, Any]], failed: int) -> dict[str, Any]:
    """The client processes' start-up (bench/ws_clients.py `startup`): p50 / p99 / max in
    ms from a client's connect to engine.io OPEN, socket.io CONNECT and the ack of its
    last subscription; the clients never subscribed, by failure kind, with examples."""
    summary: dict[str, Any] = {"not_subscribed": failed}
    for stage in ("open", "connect", "ack"):
        values = [v * 1000 for r in reports for v in r[f"{stage}_s"]]
        summary[f"{stage}_ms"] = [
            round(percentile(values, 0.5)),
            round(percentile(values, 0.99)),
            round(max(values, default=0.0)),
        ]
    kinds: dict[str, int] = {}
    for report in reports:
        for kind, n in report["failures"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    summary["failures"] = kinds
    summary["failure_examples"] = [e for r in reports for e in r["examples"]][:3]
    return summary


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_configuration(
    env: dict[str, str], log_dir: Path, server: str, options: Options
) -> dict[str, Any]:
    baseline = run_phase(env, log_dir, server, options, with_clients=False)
    loaded = run_phase(env, log_dir, server, options, with_clients=True)
    assert loaded.clients is not None
    return {
        "server": server,
        "clients": options.clients,
        "trade_clients": options.trade_clients,
        "shards": 1 if server == "matcher" else options.shards,
        "rate_per_s": options.rate,
        "pinned_server_cpus": sorted(options.server_cpus) if options.server_cpus else None,
        **{k: v for k, v in loaded.clients.items() if k.startswith("lag_")},
        "emit_lag_p50_ms": loaded.emit_lag_p50_ms,
        "emit_lag_p99_ms": loaded.emit_lag_p99_ms,
        "baseline_emit_lag_p50_ms": baseline.emit_lag_p50_ms,
        "baseline_emit_lag_p99_ms": baseline.emit_lag_p99_ms,
        "matcher_commands_per_s": round(loaded.drain_commands_per_s),
        "baseline_commands_per_s": round(baseline.drain_commands_per_s),
        "throughput_ratio": round(loaded.drain_commands_per_s / baseline.drain_commands_per_s, 3),
        "flow_applied_per_s": round(loaded.flow_applied_per_s),
        **{k: v for k, v in loaded.clients.items() if not k.startswith("lag_")},
        "startup": loaded.startup,
        "cpu_pct": loaded.cpu_pct,
        "baseline_cpu_pct": baseline.cpu_pct,
        "api_in_path": False,  # commands go straight into the Redis stream (lib.queue)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("matcher", "standalone", "both"), default="both")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--trade-clients", type=int, default=100)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--rate", type=int, default=1000, help="commands per second")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--bursts", type=int, default=2)
    parser.add_argument("--shards", type=int, choices=(1, 2), default=1,
                        help="SBS_SHARDS of the standalone configuration")  # fmt: skip
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="standalone only: the Socket.IO server and the clients on the last CPU, all "
        "else on the others, in both phases (a server host of its own, as far as one "
        "machine can show it)",
    )
    parser.add_argument("--no-calibration", action="store_true", help="skip it (quick runs)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    options = Options(
        clients=args.clients,
        trade_clients=min(args.trade_clients, args.clients),
        procs=max(1, min(args.procs, args.clients)),
        rate=args.rate,
        warmup=args.warmup,
        seconds=args.seconds,
        burst=args.burst,
        bursts=max(1, args.bursts),
        shards=args.shards,
        max_batch=args.max_batch,
    )
    assert all(shard_of(symbol, 2) == 0 for symbol in SYMBOLS)
    configurations = ("matcher", "standalone") if args.server == "both" else (args.server,)
    if args.pin:
        if configurations != ("standalone",):
            parser.error("--pin needs --server standalone (the matcher cannot be split)")
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs two CPUs or more")
        options.server_cpus = {cpus[-1]}
        os.sched_setaffinity(0, set(cpus[:-1]))  # inherited by everything started from here
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
        base = Path(tmp)
        with start_stack(base / "stack", environ={}) as stack:
            options.stack_pids = {
                name: process.pid
                for name, process in (("redis", stack.redis), ("mongodb", stack.mongodb))
                if process is not None and process.pid is not None
            }
            env = {
                **os.environ,
                **stack.env(),
                "SBS_SYMBOLS": ",".join(SYMBOLS),
            }
            env.pop("SBS_REALTIME_URL", None)
            for server in configurations:
                shards = options.shards if server == "standalone" else 1
                config_env = {**env, "SBS_SHARDS": str(shards)}
                results.append(run_configuration(config_env, base, server, options))
    calibration = None if args.no_calibration else calibration_msgs_per_s()
    for result in results:
        result["lag_target_met"] = result["lag_p99_ms"] <= LAG_TARGET_P99_MS
        result["throughput_target_met"] = result["throughput_ratio"] >= 1 - THROUGHPUT_TOLERANCE
        result["machine"] = f"{platform.machine()} {os.cpu_count()} cpu, local stack"
        result["calibration_msgs_per_s"] = calibration
        print(json.dumps(result) if args.json else result, flush=True)


if __name__ == "__main__":
    main()
