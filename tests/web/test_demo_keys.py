"""The demo accounts' keys on the page: `make run` publishes them for the page while the
stack runs (devstack/cli.py), never into git nor into a deployment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path, PurePosixPath

from devstack.cli import PAGE_DEMO_KEYS, publish_demo_keys, withdraw_demo_keys
from tests.api.test_vercel import _ignore_patterns, _ignored
from tests.api_harness import PROJECT_ROOT


def _credentials(path: Path, **keys: str) -> Path:
    accounts = [{"account": name, "api_key": key} for name, key in keys.items()]
    path.write_text(json.dumps({"accounts": accounts}))
    return path


def test_published_while_the_stack_runs_and_withdrawn_after(tmp_path: Path) -> None:
    credentials = _credentials(tmp_path / "credentials.json", alice="sbs_a_1", bob="sbs_b_2")
    target = tmp_path / "public" / "local" / "demo-keys.json"
    publish_demo_keys(credentials, target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert json.loads(target.read_text()) == json.loads(credentials.read_text())
    # Another stack's keys are not this one's to remove.
    other = _credentials(tmp_path / "other.json", alice="sbs_a_3")
    withdraw_demo_keys(other, target)
    assert target.exists()
    withdraw_demo_keys(credentials, target)
    assert not target.exists() and not target.parent.exists()
    withdraw_demo_keys(credentials, target)  # nothing there: nothing to do


def test_the_demo_keys_are_neither_committed_nor_deployed() -> None:
    keys = PAGE_DEMO_KEYS.relative_to(PROJECT_ROOT).as_posix()
    assert keys == "public/local/demo-keys.json"  # where the page looks (public/js/session.js)
    for path in (keys, "public/local/demo-keys.partial"):  # .vercelignore: never uploaded
        assert _ignored(PurePosixPath(path), _ignore_patterns()), path
    for path in (keys, "public/vendor/uPlot.esm.js"):  # .gitignore: nor the npm libraries
        ignored = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=PROJECT_ROOT, check=False
        )
        assert ignored.returncode == 0, f"{path} is not in .gitignore"
