"""tools/smoke.py, run as a user runs it after deploying (`python -m tools.smoke BASE_URL
--key KEY --key2 KEY2`, a subprocess), against the live local API of tests/api_harness.py:
every step passes, and it leaves nothing resting; against a wrong URL or with a bad key
it fails with status 1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from devstack.process import free_port
from tests.api_harness import Api
from tools.smoke import Smoke

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "S66"  # this module's own book: no other test trades it
PASS, FAIL, SKIP = "✓", "✗", "-"
STEPS = [
    "health", "config", "api key", "no key", "book", "bad request", "socket.io", "place",
    "retry", "cross", "fill", "trades", "trade event", "list", "other account", "modify",
    "cancel", "cancel again", "cleanup",
]  # fmt: skip


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.smoke", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def step_lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Step name -> its mark, from the lines `<mark> <name padded to 16> ...`."""
    marks = (PASS, FAIL, SKIP)
    lines = [line for line in result.stdout.splitlines() if line[:1] in marks and line[1:2] == " "]
    return {line[2:18].strip(): line[0] for line in lines}


def assert_book_empty(api: Api) -> None:
    book = api.client().get("/api/book", params={"symbol": SYMBOL}).json()
    assert (book["bids"], book["asks"]) == ([], []), book


def test_every_step_passes_against_the_live_api(api: Api) -> None:
    _, key = api.new_account("smoke")
    _, key2 = api.new_account("smoke2")
    # realtime_url of /api/config is the deployment's; the harness's matcher is elsewhere.
    result = smoke(api.url, "--key", key, "--key2", key2, "--symbol", SYMBOL,
                   "--realtime-url", api.realtime_url)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    marks = step_lines(result)
    assert list(marks) == STEPS, output
    assert set(marks.values()) == {PASS}, output
    assert key not in output and key2 not in output  # keys are never printed
    assert_book_empty(api)


def test_with_one_key_the_cross_checks_self_trade_prevention(api: Api) -> None:
    _, key = api.new_account("smoke")
    result = smoke(api.url, "--key", key, "--symbol", SYMBOL, "--no-realtime")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    marks = step_lines(result)
    skipped = {"socket.io", "trades", "trade event", "other account"}
    assert {name for name, mark in marks.items() if mark == SKIP} == skipped, output
    assert {mark for name, mark in marks.items() if name not in skipped} == {PASS}, output
    assert "self-trade prevention" in output
    assert_book_empty(api)


def test_a_wrong_base_url_or_a_bad_key_fails(api: Api) -> None:
    _, key = api.new_account("smoke")
    nowhere = smoke(f"http://127.0.0.1:{free_port()}", "--key", key, "--timeout", "3")
    assert nowhere.returncode == 1, nowhere.stdout + nowhere.stderr
    assert step_lines(nowhere)["health"] == FAIL
    assert "FAILED" in nowhere.stdout

    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    refused = smoke(api.url, "--key", forged, "--symbol", SYMBOL, "--no-realtime")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    marks = step_lines(refused)
    assert (marks["health"], marks["config"], marks["api key"]) == (PASS, PASS, FAIL)
    assert "place" not in marks  # nothing runs after a failed step
    assert "unauthorized" in refused.stdout
    assert forged not in refused.stdout


def test_cleanup_cancels_what_a_failed_run_left_resting(api: Api) -> None:
    """What the script does after a failed step, in process: the order it placed and had
    not ended yet is cancelled."""
    _, key = api.new_account("smoke")
    smoke_run = Smoke(api.url, key, None, SYMBOL, None, False, 10.0, {})

    async def scenario() -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            smoke_run.http = http
            body = {"symbol": SYMBOL, "side": "buy", "quantity": 5, "price": "50"}
            order = await smoke_run.place(key, body)
            assert order["status"] == "open"
            return str(order["order_id"]), await smoke_run.cleanup()

    order_id, detail = asyncio.run(scenario())
    assert detail == f"cancelled 1 order(s) left resting: {order_id}"
    order = api.client(key).get(f"/api/orders/{order_id}").json()["order"]
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "user")
    assert_book_empty(api)
