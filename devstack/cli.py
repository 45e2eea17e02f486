"""`python -m devstack run|up|down|status|env|provision` - the local stack from a shell.

`run` supervises in the foreground (Ctrl-C stops everything); `up` starts the same
supervisor detached; both record what runs in `<base>/state.json`, which `status`, `env`
and `down` read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import psutil
import pymongo

from devstack import ferretdb
from devstack.apps import PROJECT_ROOT, AppProcess, planned, realtime_env, realtime_url
from devstack.files import write_private
from devstack.process import ManagedProcess, accepts_tcp, free_port, port_is_free
from devstack.stack import Stack, StackPorts, start_stack
from lib import accounts
from lib.config import Settings, settings_or_exit

DEFAULT_BASE_DIR = PROJECT_ROOT / ".devstack"
# Well-known ports where free, so URLs stay the same from one `make run` to the next.
PREFERRED_PORTS = StackPorts(redis=6379, mongodb=27017, upstash=8079)
UP_TIMEOUT_SECONDS = 20 * 60  # a first run includes the FerretDB build
DEMO_ACCOUNTS = ("alice", "bob")
# The demo keys where the web page (public/, served by `vercel dev`) finds them: written
# while the stack runs with the API, removed when it stops. Gitignored and .vercelignored,
# so never committed nor uploaded; vercel dev serves it all the same, as the snapshot of
# public/ its initial build (vercel.json's buildCommand) takes holds every file present
# then, so it is written before the API starts.
PAGE_DEMO_KEYS = PROJECT_ROOT / "public" / "local" / "demo-keys.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument(
        "--base-dir",
        type=Path,
        default=DEFAULT_BASE_DIR,
        help="data, logs and state (default: .devstack/ in the project)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "start the stack and supervise it until Ctrl-C"),
        ("up", "start the stack in the background"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "--free-ports",
            action="store_true",
            help="use any free ports instead of 6379/27017/8079",
        )
        sub.add_argument(
            "--services-only",
            action="store_true",
            help="start the servers only, not the project's processes (matcher, API)",
        )
    commands.add_parser("down", help="stop a stack started by run or up")
    commands.add_parser("status", help="what runs, and whether it answers")
    commands.add_parser("env", help="print `export` lines for the running stack")
    commands.add_parser("provision", help="build or find the MongoDB server binary only")
    args = parser.parse_args(argv)
    base_dir: Path = args.base_dir.resolve()
    match args.command:
        case "run":
            return run(base_dir, args.free_ports, args.services_only)
        case "up":
            flags = [
                flag
                for flag, on in (
                    ("--free-ports", args.free_ports),
                    ("--services-only", args.services_only),
                )
                if on
            ]
            return up(base_dir, flags)
        case "down":
            return down(base_dir)
        case "status":
            return status(base_dir)
        case "env":
            return print_env(base_dir)
        case _:
            return provision()


def provision() -> int:
    try:
        if ferretdb.find_mongod():
            print(f"mongod found: {ferretdb.find_mongod()}")
        else:
            print(f"FerretDB: {ferretdb.ferretdb_binary()}")
    except ferretdb.ProvisionError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


def run(base_dir: Path, free_ports: bool, services_only: bool) -> int:
    settings = settings_or_exit()
    if _live_state(base_dir):
        print(
            f"devstack: already running for {base_dir}; `python -m devstack down` first",
            file=sys.stderr,
        )
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    state_path = base_dir / "state.json"
    page_keys: Path | None = None
    try:
        ports = StackPorts() if free_ports else _preferred_ports()
        with start_stack(base_dir, ports, say=print) as stack:
            credentials = seed_demo_accounts(stack.mongodb_uri, settings.mongodb_db, base_dir)
            if not services_only and _serves_the_page(settings):
                page_keys = credentials
                publish_demo_keys(credentials)
            app_env = {} if services_only else realtime_env(settings, os.environ)
            missing = {} if services_only else _start_apps(stack, settings, app_env)
            realtime = None if services_only else _realtime(settings, app_env)
            state = _state(stack, missing, credentials, app_env, realtime)
            _write_json(state_path, state)
            print_summary(state)
            return _supervise(stack)
    except KeyboardInterrupt:
        print("devstack: stopped; nothing left running")
        return 0
    except Exception as exc:  # a service that cannot start: its message says why
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    finally:
        state_path.unlink(missing_ok=True)
        if page_keys is not None:
            withdraw_demo_keys(page_keys)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    for other in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # don't cut the shutdown short
        signal.signal(other, signal.SIG_IGN)
    print(f"\ndevstack: {signal.Signals(signum).name}, stopping ...", flush=True)
    raise KeyboardInterrupt


def _preferred_ports() -> StackPorts:
    chosen = {}
    for service, port in vars(PREFERRED_PORTS).items():
        chosen[service] = port if port_is_free(port) else free_port()
        if chosen[service] != port:
            print(f"devstack: port {port} is taken; {service} uses {chosen[service]}")
    return StackPorts(**chosen)


def _start_apps(stack: Stack, settings: Settings, app_env: dict[str, str]) -> dict[str, str]:
    """Start every app that can run now (one matcher per shard, and with several shards
    the standalone real-time server: devstack/apps.py); the others, with the reason, for
    the summary. `app_env`: what the stack adds for them beyond its servers'
    (SBS_REALTIME_URL)."""
    env = {**os.environ, **stack.env(), **app_env}
    missing: dict[str, str] = {}
    for app in planned(settings):
        reason = app.missing()
        if reason is not None:
            port = app.port(settings)
            where = f" (will serve http://127.0.0.1:{port})" if port else ""
            missing[app.name] = f"{app.what}{where}: {reason}"
            continue
        if app.launcher is not None:
            stack.add(app.launcher(settings, env, stack.base_dir, stack.log_dir, _say))
        else:
            stack.add(_app_process(app, settings, stack.log_dir, env))
    return missing


def _realtime(settings: Settings, app_env: dict[str, str]) -> dict[str, str]:
    """Where clients find Socket.IO (what /api/config's realtime_url says) and which
    process of the stack serves it."""
    served_by = "realtime" if settings.shards > 1 else "matcher"
    url = app_env.get("SBS_REALTIME_URL") or os.environ.get("SBS_REALTIME_URL", "").strip()
    return {"url": url or realtime_url(settings), "served_by": served_by}


def _say(line: str) -> None:
    print(line, flush=True)


def seed_demo_accounts(mongodb_uri: str, db_name: str, base_dir: Path) -> Path:
    """Make sure the demo accounts exist, each with a working API key, and write
    `<base_dir>/credentials.json` (mode 0600) as DESIGN §2 says.

    A key from the previous run's file is kept while it still authenticates against this
    database (so curl commands and clients keep working from one `make run` to the next);
    otherwise, e.g. after `rm -rf .devstack`, the account gets a fresh key.
    """
    path = base_dir / "credentials.json"
    previous = _read_credentials(path)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongodb_uri, serverSelectionTimeoutMS=10_000
    )
    try:
        db = client[db_name]
        accounts.ensure_account_indexes(db)
        seeded = []
        for name in DEMO_ACCOUNTS:
            accounts.create_account(db, name)
            key = previous.get(name)
            if key is None or accounts.authenticate(db, key, cache=None) != name:
                key = accounts.create_key(db, name).api_key
            seeded.append({"account": name, "api_key": key})
    finally:
        client.close()
    return write_private(path, json.dumps({"accounts": seeded}, indent=2) + "\n")


def _serves_the_page(settings: Settings) -> bool:
    """Whether this run starts `vercel dev`, which serves the web page (public/)."""
    return any(app.name == "api" and app.missing() is None for app in planned(settings))


def _demo_keys_text(credentials: Path) -> str:
    accounts = [
        {"account": name, "api_key": key} for name, key in _read_credentials(credentials).items()
    ]
    return json.dumps({"accounts": accounts}, indent=2) + "\n"


def publish_demo_keys(credentials: Path, target: Path = PAGE_DEMO_KEYS) -> Path:
    """Write the demo accounts' keys (from `credentials`) where the page offers them
    (mode 0600, like credentials.json)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_private(target, _demo_keys_text(credentials))


def withdraw_demo_keys(credentials: Path, target: Path = PAGE_DEMO_KEYS) -> None:
    """Remove the page's demo keys if they are still the ones `credentials` holds (another
    stack may have written its own since)."""
    try:
        if target.read_text() != _demo_keys_text(credentials):
            return
    except OSError:
        return
    target.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        target.parent.rmdir()  # only if empty


def _read_credentials(path: Path) -> dict[str, str]:
    try:
        recorded = json.loads(path.read_text())["accounts"]
        return {str(entry["account"]): str(entry["api_key"]) for entry in recorded}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _app_process(
    app: AppProcess, settings: Settings, log_dir: Path, env: dict[str, str]
) -> ManagedProcess:
    assert app.argv is not None
    port = app.port(settings)
    return ManagedProcess(
        app.name,
        app.argv,
        log_path=log_dir / f"{app.name}.log",
        ready=(lambda: accepts_tcp(port)) if port else (lambda: True),
        url=f"http://127.0.0.1:{port}" if port else "",
        port=port,
        env=env,
        cwd=PROJECT_ROOT,
        ready_timeout=60.0,
    )


def _supervise(stack: Stack) -> int:
    """Wait for a signal; a process that dies on its own ends the whole stack."""
    while True:
        time.sleep(0.5)
        for process in stack.processes:
            if not process.running:
                print(
                    f"devstack: {process.name} exited unexpectedly; stopping the stack. "
                    f"Last lines of {process.log_path}:\n{process.log_tail()}",
                    file=sys.stderr,
                )
                return 1


def _state(
    stack: Stack,
    missing: dict[str, str],
    credentials: Path,
    app_env: dict[str, str] | None = None,
    realtime: dict[str, str] | None = None,
) -> dict[str, Any]:
    started = {process.name: process for process in stack.processes}
    urls = {
        "redis": stack.redis_url,
        "mongodb": stack.mongodb_uri,
        "upstash-proxy": stack.upstash_url,
    }
    services = []
    for name in [*urls, *(n for n in started if n not in urls)]:
        process = started.get(name)
        services.append(
            {
                "name": name,
                "url": process.url if process else urls[name],
                "pid": process.pid if process else None,
                "started": _create_time(process),
                "log": str(process.log_path) if process else None,
                "data": str(process.data_dir) if process and process.data_dir else None,
            }
        )
    return {
        "pid": os.getpid(),
        "started": psutil.Process().create_time(),
        "base_dir": str(stack.base_dir),
        "mongodb_server": stack.mongodb_server,
        "env": {**stack.env(), **(app_env or {})},
        "services": services,
        "realtime": realtime,
        "missing": missing,
        "credentials": str(credentials),  # the keys stay in that 0600 file, not here
    }


def _create_time(process: ManagedProcess | None) -> float | None:
    return psutil.Process(process.pid).create_time() if process and process.pid else None


def print_summary(state: dict[str, Any]) -> None:
    print(f"Local stack is up (supervisor pid {state['pid']}, logs {state['base_dir']}/logs):")
    for service in state["services"]:
        where = f"data {service['data']}" if service["data"] else ""
        if service["pid"] is None:
            where = "given by the environment, not started here"
        print(f"  {service['name']:<14} {service['url']:<32} {where}")
    print(f"  MongoDB server: {state['mongodb_server']}")
    print(f"  UPSTASH_REDIS_REST_TOKEN={state['env']['UPSTASH_REDIS_REST_TOKEN']}")
    if state["missing"]:
        print("Not running (yet):")
        for name, reason in state["missing"].items():
            print(f"  {name:<14} {reason}")
    seeded = _read_credentials(Path(state.get("credentials", "")))
    if seeded:
        print(f"Demo accounts (API keys, also in {state['credentials']}):")
        for account, key in seeded.items():
            print(f"  {account:<14} {key}")
    api = next((s["url"] for s in state["services"] if s["name"] == "api"), None)
    if api:
        print(f"Trading page: {api}/ (demo accounts selectable there)")
        print(f"REST API: {api}/api/... (health {api}/api/health, settings {api}/api/config)")
    if state.get("realtime"):
        print(f"Socket.IO (trades, depth, orders): {_socketio_where(state)}")
    if api:
        key = next(iter(seeded.values()), "<api key>")
        print(
            f"  curl -s {api}/api/orders -H 'Authorization: Bearer {key}' "
            "-H 'Content-Type: application/json' "
            '-d \'{"side": "buy", "quantity": 10, "price": "101.25"}\''
        )
    print('Environment for your own shell: eval "$(.venv/bin/python -m devstack env)"')
    print("Stop with Ctrl-C (run) or `python -m devstack down` (up).", flush=True)


def _socketio_where(state: dict[str, Any]) -> str:
    """The URL clients are given (/api/config's realtime_url) and which process serves it:
    the matcher with one shard, the standalone server with several."""
    url, by = state["realtime"]["url"], state["realtime"]["served_by"]
    process = next((s for s in state["services"] if s["name"] == by), None)
    if process is None:
        return f"{url} ({by} is not running)"
    if process["url"] != url:  # the caller's SBS_REALTIME_URL
        return f"{url} (SBS_REALTIME_URL; the stack's {by} serves {process['url']})"
    if by == "matcher":
        return f"{url} (served by the matcher)"
    shards = sum(s["name"].startswith("matcher-") for s in state["services"])
    return f"{url} (the standalone server `python -m matcher.realtime`, for all {shards} shards)"


def up(base_dir: Path, run_flags: list[str]) -> int:
    state = _live_state(base_dir)
    if state is None:
        state = _spawn_supervisor(base_dir, run_flags)
        if state is None:
            return 1
    print_summary(state)
    return 0


def _spawn_supervisor(base_dir: Path, run_flags: list[str]) -> dict[str, Any] | None:
    log_path = base_dir / "logs" / "devstack.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "devstack", "--base-dir", str(base_dir), "run"]
    with log_path.open("ab") as log:
        # A session of its own: closing the terminal or Ctrl-C there does not reach it.
        child = subprocess.Popen(
            [*argv, *run_flags],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
    print(f"devstack: starting in the background (pid {child.pid}, log {log_path}) ...")
    deadline = time.monotonic() + UP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        state = _live_state(base_dir)
        if state is not None and state["pid"] == child.pid:
            return state
        if child.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            print(f"devstack: the stack did not start:\n{tail}", file=sys.stderr)
            return None
        time.sleep(0.2)
    print(f"devstack: still not up after {UP_TIMEOUT_SECONDS}s; see {log_path}", file=sys.stderr)
    return None


def down(base_dir: Path) -> int:
    state = _live_state(base_dir)
    if state is None:
        print("devstack: not running")
        return 0
    supervisor = psutil.Process(state["pid"])
    supervisor.terminate()  # its SIGTERM handler stops every service in order
    _, alive = psutil.wait_procs([supervisor], timeout=30)
    if alive:  # stuck: stop what it recorded, checking each pid still is that process
        supervisor.kill()
        for service in state["services"]:
            process = _same_process(service["pid"], service["started"])
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        (base_dir / "state.json").unlink(missing_ok=True)
        withdraw_demo_keys(Path(state.get("credentials", base_dir / "credentials.json")))
    print("devstack: stopped")
    return 0


def status(base_dir: Path) -> int:
    state = _live_state(base_dir)
    if state is None:
        print("devstack: not running")
        return 3
    print(f"devstack: supervisor pid {state['pid']} running for {state['base_dir']}")
    for service in state["services"]:
        port = _port_of(service["url"])
        alive = service["pid"] is None or _same_process(service["pid"], service["started"])
        answers = port is None or accepts_tcp(port)
        health = "up" if alive and answers else "DOWN"
        print(f"  {service['name']:<14} {health:<5} {service['url']}")
    return 0


def print_env(base_dir: Path) -> int:
    state = _live_state(base_dir)
    if state is None:
        print(
            "devstack: not running; start it with `make run` or `python -m devstack up`",
            file=sys.stderr,
        )
        return 1
    for name, value in state["env"].items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _port_of(url: str) -> int | None:
    host_port = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    if not host_port.startswith("127.0.0.1:"):
        return None  # not ours to probe
    return int(host_port.rsplit(":", 1)[1])


def _live_state(base_dir: Path) -> dict[str, Any] | None:
    """The recorded state, if the supervisor that wrote it is still running."""
    try:
        state: dict[str, Any] = json.loads((base_dir / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return state if _same_process(state["pid"], state["started"]) else None


def _same_process(pid: int | None, started: float | None) -> psutil.Process | None:
    """The process `pid`, unless it ended and the pid now belongs to someone else."""
    if pid is None or started is None:
        return None
    try:
        process = psutil.Process(pid)
        return process if abs(process.create_time() - started) < 0.01 else None
    except psutil.NoSuchProcess:
        return None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value, indent=2))
    partial.replace(path)
