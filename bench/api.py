"""REST API benchmark: open-loop load at fixed rates through the API over HTTP.

    python -m bench.api --json                        # own throwaway stack + matcher + dispatcher
    python -m bench.api --op place --rates 200 --duration 30
    python -m bench.api --url http://127.0.0.1:3000   # an API already running (`make run`)

Requests are sent on a schedule (Poisson arrivals at the target rate, seeded), whatever
the answers do, and each one's latency runs from its scheduled send time to its answer,
so queueing anywhere (client pool, server, Redis, matcher) is in the figures.

place: POST /api/orders over a few symbols around a fixed mid price: ~60 % passive limit
       orders 1-100 ticks away (they rest), ~35 % limit orders 0-5 ticks through the mid
       (half of them IOC: most trade), ~5 % market orders. Success is 201; a 202 (the
       reply timed out), any other status or a transport failure is an error.
get:   GET /api/orders/{id} of a random order placed earlier (seeding or place phases),
       with its owner's key. Success is 200.

Before the phases, `--seed-orders` passive orders (default 3,000) are placed so that the
matcher works on deep books. Each rate runs `--warmup` seconds unmeasured, then
`--duration` seconds measured. Load is spread over several accounts (each API key is
rate-limited to 100 requests/s): at most 50 requests/s per key at the highest rate.

With --json: one line per (op, rate), then `{"op": "place", "p99_over_100ms_at": rate}`,
the lowest measured place rate whose p99 exceeded 100 ms (null: none did). Percentiles
are over every measured request, failures included; `achieved_per_s` counts successes
over the window (stretched to the last success when answers trail it); `status` counts
the answers by HTTP status (0: transport failure, e.g. the client's 30 s timeout, which
includes waiting for one of its `--connections`).

The generator runs in this process, the servers in their own. It uses aiohttp (~0.2 ms
of CPU a request; httpx's async client costs ~2 ms, a whole core at 800/s) and, where
the OS permits (root), runs its thread at nice -10 so that on a busy machine its sends
and clock readings stay on schedule. `generator_cpu_pct` is its CPU (% of one core) and
`generator_lagged` is true when requests started more than 5 ms late (p99) against
their schedule: then the figures are the generator's (or the machine's), not the API's.
`server_cpu_pct` is each server's CPU over the phase (% of one core, children included):
where the time goes.

--url: the API at that address, with keys from --api-key (repeatable) or else every key
found in .devstack/credentials.json; server CPU comes from .devstack/state.json when the
stack there is live.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
import pymongo

from bench.calibration import calibration_msgs_per_s
from bench.matcher import Matcher
from bench.openloop import Send, run_open_loop, summarize
from devstack import free_port, start_stack
from devstack.services import API_THREADS, API_WORKERS, api_dispatcher
from lib import accounts

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEVSTACK_DIR = PROJECT_ROOT / ".devstack"

PLACE_RATES = (50, 100, 200, 400, 800)
GET_RATES = (200, 400, 800)
SYMBOLS = "ACME,GLOBEX,INITECH"  # the own stack's symbols (tick 0.01)
REPLY_TIMEOUT_MS = 2000  # the API's default: a place answers 202 after this long
PER_KEY_RATE = 50  # requests/s per API key at most: half the API's limit per key
REQUEST_TIMEOUT_S = 30.0
MID_PRICE = Decimal(100)
SEED_LEVELS = 100  # resting orders 1..SEED_LEVELS ticks from the mid
SEED_CONCURRENCY = 32
P99_LIMIT_MS = 100.0
# The generator's thread runs ahead of the servers when the OS allows it (root), so that
# on a busy machine its clock readings and sends stay on time; it uses little CPU.
GENERATOR_NICE = -10
QUIET_TIMEOUT_S = 60.0


@dataclass
class Target:
    url: str
    api_keys: list[str]
    server: str
    processes: dict[str, int] = field(default_factory=dict)  # server name -> pid, for CPU
    settle: Callable[[], None] = lambda: None  # until the backend caught up after a phase


# ---------------------------------------------------------------- where the API runs


def keys_needed(rates: list[int]) -> int:
    return max(4, math.ceil(max(rates, default=0) / PER_KEY_RATE))


@contextmanager
def own_target(base: Path, key_count: int, workers: int) -> Iterator[Target]:
    """A throwaway stack (Valkey, FerretDB, Upstash proxy), a matcher leading shard 0 and
    the api/ functions on the dispatcher, all in processes of their own."""
    with start_stack(base / "stack", environ={}) as stack:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SBS_", "MONGODB_", "REDIS_", "UPSTASH_"))
        }
        env |= stack.env() | {
            "MONGODB_DB": f"bench_{uuid.uuid4().hex[:8]}",
            "SBS_SYMBOLS": SYMBOLS,
            "SBS_SHARDS": "1",
            "SBS_REPLY_TIMEOUT_MS": str(REPLY_TIMEOUT_MS),
        }
        log_dir = base / "logs"
        matcher = Matcher(env, log_dir, max_batch=1000)
        matcher.process.start()
        try:
            while matcher.role() != "leader":
                time.sleep(0.02)
            server = api_dispatcher(free_port(), env, log_dir, workers=workers)
            server.start()
            try:
                client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
                    env["MONGODB_URI"]
                )
                db = client[env["MONGODB_DB"]]
                api_keys = []
                for n in range(key_count):
                    name = f"bench-{n:03d}"
                    accounts.create_account(db, name)
                    api_keys.append(accounts.create_key(db, name).api_key)
                client.close()
                processes = {
                    process.name: process.pid
                    for process in [*stack.processes, matcher.process, server]
                    if process.pid is not None
                }

                def settle() -> None:
                    """Until the matcher has projected every batch it committed."""
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        health = matcher.health()
                        if health["projected_batch"] == health["last_batch"]:
                            break
                        time.sleep(0.05)

                yield Target(
                    server.url,
                    api_keys,
                    f"dispatcher (gunicorn, {workers} workers x {API_THREADS} threads)",
                    processes,
                    settle,
                )
            finally:
                server.stop()
        finally:
            matcher.process.stop()


def find_keys(value: object) -> list[str]:
    """Every string anywhere in a JSON document that is shaped like an API key."""
    if isinstance(value, str):
        return [value] if accounts.key_id_of(value) is not None else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [key for item in value for key in find_keys(item)]
    return []


def stack_processes() -> dict[str, int]:
    """The servers of the live `make run` stack, from .devstack/state.json."""
    try:
        state = json.loads((DEVSTACK_DIR / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    found = {}
    for service in state.get("services", []):
        pid, started = service.get("pid"), service.get("started")
        try:
            if pid and started and abs(psutil.Process(pid).create_time() - started) < 0.01:
                found[str(service["name"])] = int(pid)
        except psutil.Error:
            continue
    return found


def url_target(url: str, api_keys: list[str]) -> Target:
    if not api_keys:
        try:
            api_keys = find_keys(json.loads((DEVSTACK_DIR / "credentials.json").read_text()))
        except (OSError, ValueError):
            api_keys = []
    if not api_keys:
        raise SystemExit(
            "bench.api: no API key: pass --api-key (several, to go past 100 requests/s) "
            f"or provide {DEVSTACK_DIR / 'credentials.json'}"
        )
    with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
        header = client.get("/api/config").headers.get("server", "")
    server = "dispatcher (gunicorn)" if "gunicorn" in header.lower() else "vercel dev --local"
    return Target(url.rstrip("/"), list(dict.fromkeys(api_keys)), server, stack_processes())


class ServerCpu:
    """CPU seconds of each server process (with its children: gunicorn's workers)."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes: dict[str, psutil.Process] = {}
        for name, pid in processes.items():
            try:
                self.processes[name] = psutil.Process(pid)
            except psutil.Error:
                continue

    def snapshot(self) -> dict[str, float]:
        totals = {}
        for name, process in self.processes.items():
            total = 0.0
            try:
                tree = [process, *process.children(recursive=True)]
            except psutil.Error:
                continue
            for member in tree:
                try:
                    times = member.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
            totals[name] = total
        return totals


# ---------------------------------------------------------------- the order mix


@dataclass(frozen=True)
class Book:
    symbol: str
    tick: Decimal
    mid: int  # ticks


def books_of(config: dict[str, Any], count: int) -> list[Book]:
    """The first `count` symbols of GET /api/config, each with a mid of about 100."""
    books = []
    for spec in config["symbols"][:count]:
        tick = Decimal(str(spec["tick_size"]))
        max_ticks = int(Decimal(str(spec["max_price"])) / tick)
        mid = min(int(MID_PRICE / tick), max_ticks // 2)
        books.append(Book(spec["symbol"], tick, mid))
    if not books or any(book.mid <= SEED_LEVELS for book in books):
        raise SystemExit(f"bench.api: symbols too coarse for the order mix: {config['symbols']}")
    return books


class OrderMix:
    def __init__(self, books: list[Book], seed: int) -> None:
        self.books = books
        self.rng = random.Random(seed)

    def _order(self, book: Book, side: str, ticks: int | None, **extra: object) -> bytes:
        order: dict[str, object] = {
            "symbol": book.symbol,
            "side": side,
            "quantity": self.rng.randint(1, 100),
            "price": None if ticks is None else str(ticks * book.tick),
            **extra,
        }
        return json.dumps(order, separators=(",", ":")).encode()

    def passive(self) -> bytes:
        book = self.rng.choice(self.books)
        side = self.rng.choice(("buy", "sell"))
        away = self.rng.randint(1, SEED_LEVELS)
        return self._order(book, side, book.mid - away if side == "buy" else book.mid + away)

    def next(self) -> bytes:
        draw = self.rng.random()
        if draw < 0.60:
            return self.passive()
        book = self.rng.choice(self.books)
        side = self.rng.choice(("buy", "sell"))
        if draw < 0.95:
            through = self.rng.randint(0, 5)
            price = book.mid + through if side == "buy" else book.mid - through
            tif = self.rng.choice(("GTC", "IOC"))
            return self._order(book, side, price, time_in_force=tif)
        return self._order(book, side, None, type="market", time_in_force="IOC")


# ---------------------------------------------------------------- the load


class Load:
    """The client side: one pooled HTTP client, the accounts' keys, the orders placed.

    aiohttp rather than httpx: its C parser costs the generator ~0.17 ms of CPU a request
    where httpx's async client costs ~2 ms, which at 800 requests/s would take a whole
    core from the servers on a 2-core machine."""

    def __init__(
        self, session: aiohttp.ClientSession, api_keys: list[str], books: list[Book]
    ) -> None:
        self.session = session
        self.headers = [
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            for key in api_keys
        ]
        self.mix = OrderMix(books, seed=3)
        self.rng = random.Random(4)
        self.placed: list[tuple[int, str]] = []  # (key index, order_id)

    async def _post(self, key: int, body: bytes) -> int:
        async with self.session.post("/api/orders", data=body, headers=self.headers[key]) as r:
            if r.status == 201:
                self.placed.append((key, str((await r.json())["order_id"])))
            else:
                await r.read()  # a connection goes back to the pool once read to the end
            return r.status

    async def place(self, n: int) -> tuple[int, bool]:
        status = await self._post(n % len(self.headers), self.mix.next())
        return status, status == 201

    async def get(self, n: int) -> tuple[int, bool]:
        key, order_id = self.rng.choice(self.placed)
        path = f"/api/orders/{order_id}"
        async with self.session.get(path, headers=self.headers[key]) as response:
            await response.read()
            return response.status, response.status == 200

    async def seed(self, orders: int) -> int:
        """Place `orders` passive orders as fast as the API takes them (closed loop);
        returns how many were refused."""
        refused = 0
        todo = iter(range(orders))

        async def worker() -> None:
            nonlocal refused
            for n in todo:
                body = self.mix.passive()
                for _attempt in range(20):
                    try:
                        status = await self._post(n % len(self.headers), body)
                    except (aiohttp.ClientError, TimeoutError):
                        status = 0
                    if status not in (0, 429):
                        break
                    await asyncio.sleep(0.2)
                refused += int(status != 201)

        await asyncio.gather(*(worker() for _ in range(SEED_CONCURRENCY)))
        return refused


async def quiet(session: aiohttp.ClientSession) -> None:
    """Until GET /api/config answers within 50 ms three times running: requests of the
    last phase still queued in the server must not run into the next one."""
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    prompt = 0
    while prompt < 3 and time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            async with session.get("/api/config") as response:
                await response.read()
            prompt = prompt + 1 if time.perf_counter() - started < 0.05 else 0
        except (aiohttp.ClientError, TimeoutError):
            prompt = 0
        await asyncio.sleep(0.1)


def boost_priority() -> int:
    """Raise this thread's priority (Linux nice values are per thread: the servers, started
    earlier, keep theirs); returns the nice value now in effect."""
    with contextlib.suppress(OSError):  # not permitted: the generator runs as it is
        os.setpriority(os.PRIO_PROCESS, 0, GENERATOR_NICE)
    return os.getpriority(os.PRIO_PROCESS, 0)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def line(result: dict[str, Any]) -> str:
    lagged = "  GENERATOR LAGGED" if result["generator_lagged"] else ""
    cpu = " ".join(f"{name} {pct:.0f}%" for name, pct in result["server_cpu_pct"].items())
    return (
        f"{result['op']:<5} {result['rate']:>5}/s: achieved {result['achieved_per_s']:>6}/s"
        f"  p50 {result['p50_ms']:>7} ms  p99 {result['p99_ms']:>7} ms"
        f"  errors {result['errors']} {result['status']}"
        f"  generator cpu {result['generator_cpu_pct']}% lag p99 "
        f"{result['generator_lag_p99_ms']} ms{lagged}  servers: {cpu}"
    )


async def measure(
    target: Target, plan: list[tuple[str, int]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    connector = aiohttp.TCPConnector(
        limit=args.connections,
        keepalive_timeout=1.0,  # below gunicorn's 2 s keep-alive: we close first
    )
    async with aiohttp.ClientSession(
        target.url,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    ) as session:
        async with session.get("/api/config") as response:
            config = await response.json()
        per_key = float(config.get("limits", {}).get("rate_per_s", 100))
        top = max((rate for _, rate in plan), default=0)
        if top > per_key * len(target.api_keys):
            say(
                f"bench.api: warning: {len(target.api_keys)} key(s) at {per_key:.0f}/s each "
                f"cannot carry {top} requests/s: expect 429s (counted as errors)"
            )
        load = Load(session, target.api_keys, books_of(config, args.symbols))
        started = time.perf_counter()
        refused = await load.seed(args.seed_orders)
        took = time.perf_counter() - started
        say(
            f"bench.api: seeded {args.seed_orders} resting orders in {took:.1f} s "
            f"({refused} refused), over {len(load.mix.books)} symbols, "
            f"{len(target.api_keys)} accounts"
        )
        if not load.placed and any(op == "get" for op, _ in plan):
            raise SystemExit("bench.api: no order was placed, nothing to get")
        await asyncio.to_thread(target.settle)
        await quiet(session)
        cpu = ServerCpu(target.processes)
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        results = []
        for op, rate in plan:
            send: Send = load.place if op == "place" else load.get
            before = cpu.snapshot()
            gc.collect()
            gc.disable()  # a full collection stalls the loop for milliseconds: between phases
            try:
                phase = await run_open_loop(
                    send, rate, args.warmup, args.duration, poisson=args.arrivals == "poisson"
                )
            finally:
                gc.enable()
            after = cpu.snapshot()
            server_cpu = {
                name: round(100 * (after[name] - before[name]) / phase.wall_s)
                for name in after
                if name in before
            }
            result = {"op": op, "rate": rate, **summarize(phase)}
            result |= {
                "server": target.server,
                "server_cpu_pct": server_cpu,
                "duration_s": args.duration,
                "arrivals": args.arrivals,
                "generator_nice": nice,
            }
            # Progress on stderr beside --json's lines at the end, else the results themselves.
            print(line(result), file=sys.stderr if args.json else sys.stdout, flush=True)
            results.append(result)
            await asyncio.to_thread(target.settle)
            await quiet(session)
        return results


def run_plan(
    target: Target, plan: list[tuple[str, int]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    boost_priority()
    try:
        return asyncio.run(measure(target, plan, args))
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # lowering needs no privilege


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", choices=("place", "get", "both"), default="both")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(rate) for rate in text.split(",")],
        help="requests/s, comma-separated, for every op run "
        f"(default: place {','.join(map(str, PLACE_RATES))}; get {','.join(map(str, GET_RATES))})",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before")
    parser.add_argument("--arrivals", choices=("poisson", "uniform"), default="poisson")
    parser.add_argument("--seed-orders", type=int, default=3000, help="resting orders first")
    parser.add_argument("--symbols", type=int, default=3, help="how many symbols to trade")
    parser.add_argument("--connections", type=int, default=256, help="client connection pool")
    parser.add_argument("--url", help="benchmark the API already running there")
    parser.add_argument("--api-key", action="append", default=[], help="with --url; repeatable")
    parser.add_argument("--workers", type=int, default=API_WORKERS, help="own dispatcher's")
    parser.add_argument("--no-calibration", action="store_true", help="skip the ~10 s figure")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    ops = ["place", "get"] if args.op == "both" else [args.op]
    plan = [
        (op, rate)
        for op in ops
        for rate in (args.rates or (PLACE_RATES if op == "place" else GET_RATES))
    ]
    if args.url:
        results = run_plan(url_target(args.url, args.api_key), plan, args)
    else:
        keys = keys_needed([rate for _, rate in plan])
        with (
            tempfile.TemporaryDirectory(prefix="bench-api-") as tmp,
            own_target(Path(tmp), keys, args.workers) as target,
        ):
            results = run_plan(target, plan, args)
    # After the runs, with the servers stopped: the same conditions as the figures beside it.
    calibration = None if args.no_calibration else calibration_msgs_per_s()
    places = [result for result in results if result["op"] == "place"]
    if places:
        over = [r["rate"] for r in places if r["p99_ms"] > P99_LIMIT_MS]
        results.append(
            {
                "op": "place",
                "p99_over_100ms_at": min(over, default=None),
                "server": places[0]["server"],
            }
        )
    machine = f"{platform.machine()} {os.cpu_count()} cpu"
    for result in results:
        result |= {"machine": machine, "calibration_msgs_per_s": calibration}
        if args.json:
            print(json.dumps(result))
        elif "p99_over_100ms_at" in result:
            print(f"place p99 over {P99_LIMIT_MS:.0f} ms first at: {result['p99_over_100ms_at']}")
    if not args.json:
        print(f"{machine}, calibration_msgs_per_s {calibration}")


if __name__ == "__main__":
    main()
