"""`python -m devstack`: run until Ctrl-C, and up / status / env / down, as a shell uses them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import redis

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
