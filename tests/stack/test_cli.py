"""`python -m devstack`: run until Ctrl-C, and up / status / env / down, as a shell uses them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import redis

from devstack import vercel
from devstack.apps import planned, realtime_env
from devstack.process import port_is_free
from lib.config import load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The caller's own services would be used instead of started: keep them out.
_THEIRS = ("REDIS_URL", "MONGODB_URI", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN")


def devstack(base_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "devstack", "--base-dir", str(base_dir), *args]


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in _THEIRS}, **extra}


def cli(base_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        devstack(base_dir, *args), cwd=PROJECT_ROOT, env=clean_env(), capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


def recorded_processes(base_dir: Path) -> list[psutil.Process]:
    state = json.loads((base_dir / "state.json").read_text())
    pids = [state["pid"], *(service["pid"] for service in state["services"])]
    return [psutil.Process(pid) for pid in pids]


def test_run_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    runner = subprocess.Popen(
        devstack(tmp_path, "run", "--free-ports", "--services-only"), cwd=PROJECT_ROOT,
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert runner.stdout is not None
        output = [runner.stdout.readline() for _ in range(4)]
        assert output[0].startswith("Local stack is up"), output
        assert {line.split()[0] for line in output[1:]} == {"redis", "mongodb", "upstash-proxy"}
        processes = recorded_processes(tmp_path)
        assert len(processes) == 4
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=30) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
    assert "nothing left running" in runner.stdout.read()
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert alive == []
    assert not (tmp_path / "state.json").exists()


def test_up_status_env_down(tmp_path: Path) -> None:
    up = cli(tmp_path, "up", "--free-ports", "--services-only")
    assert up.returncode == 0, up.stderr
    assert "Local stack is up" in up.stdout
    try:
        processes = recorded_processes(tmp_path)
        status = cli(tmp_path, "status")
        assert status.returncode == 0
        assert status.stdout.count(" up ") == 3, status.stdout
        env_lines = cli(tmp_path, "env").stdout.splitlines()
        exports = dict(line.removeprefix("export ").split("=", 1) for line in env_lines if line)
        assert set(exports) == set(_THEIRS)
        with redis.Redis.from_url(exports["REDIS_URL"]) as client:
            assert client.ping()
        again = cli(tmp_path, "up", "--free-ports")  # already up: reports, starts nothing
        assert again.returncode == 0 and recorded_processes(tmp_path) == processes
    finally:
        down = cli(tmp_path, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert alive == []
    assert cli(tmp_path, "status").returncode == 3
    assert cli(tmp_path, "env").returncode == 1


def test_a_config_error_is_one_line_and_status_2(tmp_path: Path) -> None:
    result = subprocess.run(
        devstack(tmp_path, "run", "--free-ports"), cwd=PROJECT_ROOT,
        env=clean_env(SBS_SYMBOLS="ACME:0.03:100"), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: SBS_SYMBOLS=")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "state.json").exists()


def test_one_matcher_serves_socketio_with_one_shard() -> None:
    settings = load_settings({"SBS_MATCHER_PORT": "8000"})
    apps = {app.name: app for app in planned(settings)}
    assert list(apps) == ["matcher", "api"]
    assert apps["matcher"].argv is not None and apps["matcher"].argv[-2:] == ("--shard", "0")
    assert apps["matcher"].port(settings) == 8000
    assert realtime_env(settings, {}) == {}  # /api/config's default: the matcher's URL
    assert settings.public_realtime_url == "http://127.0.0.1:8000"


def test_several_shards_get_a_matcher_each_and_the_standalone_server() -> None:
    settings = load_settings({"SBS_SHARDS": "3", "SBS_MATCHER_PORT": "8000"})
    apps = {app.name: app for app in planned(settings)}
    assert list(apps) == ["matcher-0", "matcher-1", "matcher-2", "realtime", "api"]
    for shard in range(3):
        app = apps[f"matcher-{shard}"]
        assert app.argv is not None and app.argv[1:] == ("-m", "matcher", "--shard", str(shard))
        assert app.port(settings) == 8000 + shard
    realtime = apps["realtime"]
    assert realtime.argv is not None and realtime.argv[1:] == (
        "-m",
        "matcher.realtime",
        "--port",
        "8003",
    )
    assert realtime.port(settings) == 8003  # just above the matchers' ports
    env = realtime_env(settings, {})
    assert env == {"SBS_REALTIME_URL": "http://127.0.0.1:8003"}
    assert "SBS_REALTIME_URL='http://127.0.0.1:8003'" in vercel.env_file_text(env)  # the .env
    assert realtime_env(settings, {"SBS_REALTIME_URL": "https://rt.example"}) == {}


# `run` with SBS_SHARDS=2, without the API (vercel dev builds for a minute): the same CLI
# with the api app left out of APPS.
_RUN_WITHOUT_API = (
    "import sys, devstack.apps as apps; "
    "apps.APPS = tuple(app for app in apps.APPS if app.name != 'api'); "
    "from devstack.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_run_with_two_shards_starts_both_matchers_and_the_realtime_server(
    tmp_path: Path,
) -> None:
    port = free_port_range(3)
    argv = [sys.executable, "-c", _RUN_WITHOUT_API, "--base-dir", str(tmp_path), "run",
            "--free-ports"]  # fmt: skip
    env = clean_env(SBS_SHARDS="2", SBS_MATCHER_PORT=str(port), PYTHONPATH=str(PROJECT_ROOT))
    env.pop("SBS_REALTIME_URL", None)
    runner = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert runner.stdout is not None
        output: list[str] = []
        while not output or not output[-1].startswith("Stop with"):
            line = runner.stdout.readline()
            assert line, "".join(output)
            output.append(line)
        names = [line.split()[0] for line in output[1:7]]
        assert names == ["redis", "mongodb", "upstash-proxy", "matcher-0", "matcher-1", "realtime"]
        realtime = f"http://127.0.0.1:{port + 2}"
        where = next(line for line in output if line.startswith("Socket.IO"))
        assert where.split(": ", 1)[1].startswith(f"{realtime} (the standalone server"), where
        state = json.loads((tmp_path / "state.json").read_text())
        assert state["env"]["SBS_REALTIME_URL"] == realtime  # the functions' .env carries it
        assert httpx.get(f"{realtime}/health").json() == {"role": "realtime", "ok": True}
        for shard in (0, 1):
            health = httpx.get(f"http://127.0.0.1:{port + shard}/health").json()
            assert health["shard"] == shard
        processes = recorded_processes(tmp_path)
        assert len(processes) == 7
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=60) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert alive == []


def free_port_range(count: int) -> int:
    """The first of `count` consecutive free ports."""
    for first in range(20_000, 60_000, 97):
        if all(port_is_free(port) for port in range(first, first + count)):
            return first
    raise AssertionError("no free port range")
