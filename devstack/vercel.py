"""The API under the real Vercel CLI: `vercel dev --local` as a process of the local stack.

`make run` serves the api/ functions this way (DESIGN §6), and tests/api/test_vercel.py
runs the same launcher against a symlink copy of the project to hold the dispatcher
(devstack/dispatcher.py) to the CLI's answers. What docs/VERCEL_DEV.md found is handled
here, once:

- the CLI is `node_modules/.bin/vercel` (npm `vercel` 60.1.3, pinned in package-lock.json);
  `python3` (3.12) and `uv` (the version @vercel/python pins) come first on its PATH from
  `.venv/vercel-path/bin`; the Makefile installs all three;
- functions see no shell variable, only the project's `.env`: `start()` writes it (mode
  0600) with every setting of lib/config.py that the given environment sets;
- `vercel dev` refuses to run a function whose vercel.json `functions` entry sets
  `maxDuration` or `memory` (DEV_BUILDER_RESULT_HAS_MAXDURATION, a 500 on every request),
  so the CLI reads a copy of vercel.json without those keys (`-A .vercel/devstack.json`);
  they only matter in production;
- a function's build is cached in `.vercel/cache/` with its resolved uv.lock, which a
  dependency change does not invalidate: the cache goes when pyproject.toml,
  requirements.txt or the interpreter changed since the last start;
- a busy port makes the CLI serve on the next free one, silently: the port is read from its
  "Ready! Available at" line; ready means GET /api/health answers through it;
- every function is built on its first request (5-20 s each): `start()` requests each once
  (all at once) and again, so the first real request is fast;
- the CLI and the paused Python workers it forks share its process group, which
  ManagedProcess.stop() ends as a whole;
- the web page: at start the CLI runs vercel.json's `buildCommand` (`npm run vendor`, the
  browser libraries from node_modules into public/vendor/, as a deployment's build does)
  and serves the snapshot of public/ it then takes: a file added to public/ later is a 404
  until the next start (edits to existing files show at once).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from devstack.dispatcher import discover
from devstack.files import write_private
from devstack.process import ManagedProcess, ServiceError
from lib.config import ENV_VARS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VERCEL_BIN = PROJECT_ROOT / "node_modules" / ".bin" / "vercel"
# The web page's browser libraries (package.json's dependencies), copied into public/vendor/
# by vercel.json's buildCommand when the CLI starts.
PAGE_LIBRARIES = PROJECT_ROOT / "node_modules" / "socket.io-client" / "package.json"
# python3 -> Python 3.12 and uv, linked by the Makefile (`make vercel`).
VERCEL_PATH = PROJECT_ROOT / ".venv" / "vercel-path" / "bin"
DEV_CONFIG = Path(".vercel") / "devstack.json"
BUILDS_STAMP = Path(".vercel") / "devstack-builds.sha256"
# Keys of a vercel.json `functions` entry that `vercel dev` 60.1.3 refuses in a build result.
DEV_REFUSED_FUNCTION_KEYS = ("maxDuration", "memory", "maxConcurrency", "affinity")
NODE_OPTIONS = "--max-http-header-size=65536"  # Node's 16 KB default answers 431
READY_TIMEOUT_S = 180.0  # the first start builds /api/health with a cold uv cache
WARM_TIMEOUT_S = 120.0
SLOW_REQUEST_S = 4.0  # slower than this once built: it was built again
_READY_RE = re.compile(rb"Ready! Available at (http://[0-9.]+:([0-9]+))")
_SAFE_ENV_VALUE = re.compile(r"[^'\n\r]*")
# The dynamic segment of a function's path while warming it up (any value reaches it).
_WARM_SEGMENT = "warm-up"


def missing() -> str | None:
    """What keeps `vercel dev` from running here (and how to get it), or None."""
    for path, what in (
        (VERCEL_BIN, "the Vercel CLI"),
        (PAGE_LIBRARIES, "the web page's browser libraries"),
        (VERCEL_PATH / "python3", "python3 for the Vercel CLI"),
        (VERCEL_PATH / "uv", "uv for the Vercel CLI"),
    ):
        if not os.path.exists(path):  # follows the links: a dangling one is missing too
            rel = path.relative_to(PROJECT_ROOT)
            return f"{what} is not installed ({rel}): `make run` or `make vercel` installs it"
    return None


def env_file_text(environ: Mapping[str, str]) -> str:
    """The `.env` for the functions: every lib/config.py setting `environ` sets, quoted."""
    lines = [
        "# Written by devstack (`make run`) for `vercel dev`, whose functions see only this",
        "# file, never the shell: rewritten on every start. Set variables in your shell.",
    ]
    for var in ENV_VARS.values():
        value = environ.get(var, "")
        if not value.strip():
            continue
        if not _SAFE_ENV_VALUE.fullmatch(value):
            raise ValueError(f"{var} cannot be written to .env (it holds a quote or newline)")
        lines.append(f"{var}='{value}'")
    return "\n".join(lines) + "\n"


def write_env_file(root: Path, environ: Mapping[str, str]) -> Path:
    return write_private(root / ".env", env_file_text(environ))


def write_dev_config(root: Path) -> Path:
    """vercel.json as `vercel dev` accepts it: without DEV_REFUSED_FUNCTION_KEYS."""
    config = json.loads((root / "vercel.json").read_text())
    for function in config.get("functions", {}).values():
        for key in DEV_REFUSED_FUNCTION_KEYS:
            function.pop(key, None)
    path = root / DEV_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def forget_stale_builds(root: Path) -> bool:
    """Remove `.vercel/cache` if the dependencies or the interpreter changed since the
    builds in it were made; True if it did."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "requirements.txt"):
        file = root / name
        digest.update(file.read_bytes() if file.exists() else b"")
    digest.update(str((VERCEL_PATH / "python3").resolve()).encode())
    stamp = root / BUILDS_STAMP
    current = digest.hexdigest()
    old = stamp.read_text().strip() if stamp.exists() else None
    cache = root / ".vercel" / "cache"
    removed = old != current and cache.exists()
    if removed:
        shutil.rmtree(cache)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return removed


def cli_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The CLI's own environment: `environ` with python3/uv first on PATH, Python 3.12 for
    uv, no telemetry or update check, room for large headers; nothing that could point the
    functions' interpreter elsewhere."""
    env = {k: v for k, v in environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(VERCEL_PATH), environ.get("PATH", os.defpath)])
    env["UV_PYTHON"] = "3.12"
    env["VERCEL_TELEMETRY_DISABLED"] = "1"
    env["NO_UPDATE_NOTIFIER"] = "1"
    env["NODE_OPTIONS"] = f"{environ.get('NODE_OPTIONS', '')} {NODE_OPTIONS}".strip()
    return env


def function_paths(root: Path) -> dict[str, str]:
    """Each function file (relative to `root`) and a path that reaches it."""
    paths = {}
    for route in discover(root):
        parts = route.file.relative_to(root).with_suffix("").parts
        segments = parts[:-1] if parts[-1] == "index" else parts
        path = "/".join(_WARM_SEGMENT if s.startswith("[") else s for s in segments)
        paths[str(route.file.relative_to(root))] = f"/{path}"
    return paths


@dataclass(frozen=True)
class Warmed:
    file: str
    path: str
    status: int  # 0: no answer
    seconds: float
    answered: bool  # the function ran: a JSON body, not the CLI's error page


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - our own http:// URL
        url, headers={"Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _function_answered(status: int, body: bytes) -> bool:
    """The function itself answered: its JSON always has `success` (the CLI's own 404/502
    pages do not)."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return False
    return status != 0 and isinstance(decoded, dict) and "success" in decoded


class VercelDev(ManagedProcess):
    """`vercel dev --local` serving `root` (the project, or a copy of it), as one
    ManagedProcess. `environ`: the caller's environment plus the stack's; what the
    functions get of it is written to `root/.env` on every start."""

    def __init__(
        self,
        root: Path,
        port: int,
        environ: Mapping[str, str],
        log_path: Path,
        global_dir: Path,
        *,
        name: str = "api",
        say: Callable[[str], None] = lambda _: None,
        ready_timeout: float = READY_TIMEOUT_S,
    ) -> None:
        argv = [
            str(VERCEL_BIN), "dev", "--local", "--listen", f"127.0.0.1:{port}",
            "--global-config", str(global_dir), "--local-config", str(root / DEV_CONFIG),
            "--no-color",
        ]  # fmt: skip
        super().__init__(
            name,
            argv,
            log_path=log_path,
            ready=self._answers,
            url=f"http://127.0.0.1:{port}",
            port=port,
            env=cli_environ(environ),
            cwd=root,
            ready_timeout=ready_timeout,
        )
        self.root = root
        self.requested_port = port
        self.functions_environ = dict(environ)
        self.warmed: list[Warmed] = []
        self._say = say
        self._log_offset = 0
        self._found_port = False

    def start(self) -> None:
        if self.running:
            raise ServiceError(f"{self.name} is already running (pid {self.pid})")
        write_env_file(self.root, self.functions_environ)
        write_dev_config(self.root)
        if forget_stale_builds(self.root):
            self._say(f"devstack: {self.name}: dependencies changed, removed .vercel/cache")
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._found_port = False
        started = time.monotonic()
        super().start()
        self._say(
            f"devstack: {self.name}: vercel dev answers on {self.url} "
            f"({time.monotonic() - started:.0f} s); building every function once ..."
        )
        self.warm()

    def _answers(self) -> bool:
        if not self._found_port:
            match = self._ready_line()
            if match is None:
                return False
            self.url, self.port = match[0].decode(), int(match[1])
            self._found_port = True
            if self.port != self.requested_port:
                self._say(
                    f"devstack: port {self.requested_port} is taken; {self.name} uses {self.port}"
                )
        status, body = _get(f"{self.url}/api/health", timeout=90.0)
        return _function_answered(status, body)

    def _ready_line(self) -> tuple[bytes, bytes] | None:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                match = _READY_RE.search(log.read())
        except OSError:
            return None
        return None if match is None else (match[1], match[2])

    def warm(self) -> list[Warmed]:
        """Build and run every function: all at once, then each again (a build that the
        first round's requests triggered twice is absorbed here, not by a user)."""
        paths = function_paths(self.root)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(paths) or 1) as pool:
            list(pool.map(lambda item: self._warm_one(*item), paths.items()))
        self.warmed = [self._warm_one(file, path) for file, path in paths.items()]
        failed = [w for w in self.warmed if not w.answered]
        slow = [w for w in self.warmed if w.answered and w.seconds > SLOW_REQUEST_S]
        self._say(
            f"devstack: {self.name}: {len(self.warmed) - len(failed)} of {len(self.warmed)} "
            f"functions built and warm ({time.monotonic() - started:.0f} s)"
        )
        for w in failed:
            self._say(
                f"devstack: {self.name}: {w.file} does not run (GET {w.path}: status "
                f"{w.status or 'none'}); see {self.log_path}"
            )
        for w in slow:
            self._say(f"devstack: {self.name}: {w.file} is still slow ({w.seconds:.1f} s)")
        return self.warmed

    def _warm_one(self, file: str, path: str) -> Warmed:
        started = time.monotonic()
        status, body = _get(f"{self.url}{path}", timeout=WARM_TIMEOUT_S)
        seconds = time.monotonic() - started
        return Warmed(file, path, status, seconds, _function_answered(status, body))
