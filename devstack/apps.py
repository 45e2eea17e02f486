"""The project's own long-running processes that `python -m devstack run` starts after the
services, with the caller's environment plus the stack's. Adding one is one line in APPS.

How many of each run depends on SBS_SHARDS (`planned()`): with one shard, one matcher that
serves Socket.IO itself; with N > 1, a matcher per shard (`matcher-0` ... on
SBS_MATCHER_PORT + shard) and the standalone real-time server (`realtime`, on
SBS_MATCHER_PORT + N, just above the matchers' ports) that serves every symbol's
Socket.IO clients (DESIGN §3). `realtime_env()` points `/api/config`'s `realtime_url`
(SBS_REALTIME_URL) at it unless the caller set that variable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from devstack import vercel
from devstack.process import ManagedProcess
from lib.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Builds an app's process when a command line and "its port accepts connections" are not
# enough: (settings, environment, base dir, log dir, say) -> a process not started yet.
Launcher = Callable[
    [Settings, Mapping[str, str], Path, Path, Callable[[str], None]], ManagedProcess
]


class Runs(Enum):
    """How many processes of an app `planned()` makes for a configuration."""

    ONCE = "once"
    # One per shard: name `NAME-SHARD` (plain NAME with one shard), port + shard, and
    # "{shard}" in argv replaced by the shard.
    PER_SHARD = "per shard"
    # Only with SBS_SHARDS > 1, once, on port + SBS_SHARDS ("{port}" in argv replaced).
    SHARDED = "sharded"


@dataclass(frozen=True)
class AppProcess:
    name: str
    # None while the process is planned but has no command yet (or has a launcher).
    argv: tuple[str, ...] | None
    # Project-relative path that must exist before the process can run.
    needs: str | None = None
    # Settings field with its port: ready once that port accepts connections.
    port_setting: str | None = None
    what: str = ""
    launcher: Launcher | None = None
    # What else keeps it from running (something not installed), with the remedy.
    prerequisite: Callable[[], str | None] | None = None
    runs: Runs = Runs.ONCE
    # Added to the port setting's value (planned() sets it for PER_SHARD and SHARDED).
    port_offset: int = 0

    def port(self, settings: Settings) -> int | None:
        if not self.port_setting:
            return None
        return int(getattr(settings, self.port_setting)) + self.port_offset

    def missing(self) -> str | None:
        """Why this process cannot run yet, or None when it can."""
        if self.argv is None and self.launcher is None:
            return "not part of the stack yet"
        if self.needs and not (PROJECT_ROOT / self.needs).exists():
            return f"{self.needs} does not exist yet"
        return self.prerequisite() if self.prerequisite else None


def _vercel_dev(
    settings: Settings,
    env: Mapping[str, str],
    base_dir: Path,
    log_dir: Path,
    say: Callable[[str], None],
) -> ManagedProcess:
    return vercel.VercelDev(
        PROJECT_ROOT,
        settings.api_port,
        env,
        log_dir / "api.log",
        base_dir / "vercel",
        say=say,
    )


APPS: tuple[AppProcess, ...] = (
    AppProcess(
        "matcher",
        (sys.executable, "-m", "matcher", "--shard", "{shard}"),
        "matcher/__main__.py",
        "matcher_port",
        "matching engine + Socket.IO",
        runs=Runs.PER_SHARD,
    ),
    AppProcess(
        "realtime",
        (sys.executable, "-m", "matcher.realtime", "--port", "{port}"),
        "matcher/realtime/__main__.py",
        "matcher_port",
        "Socket.IO for every shard",
        runs=Runs.SHARDED,
    ),
    AppProcess(
        "api",
        None,
        "vercel.json",
        "api_port",
        "REST API via `vercel dev --local`",
        launcher=_vercel_dev,
        prerequisite=vercel.missing,
    ),
)


def planned(settings: Settings) -> tuple[AppProcess, ...]:
    """APPS as this configuration runs them, in start order (see the module doc)."""
    shards = settings.shards
    apps: list[AppProcess] = []
    for app in APPS:
        match app.runs:
            case Runs.ONCE:
                apps.append(app)
            case Runs.PER_SHARD if shards == 1:  # it serves Socket.IO and keeps its name
                apps.append(_filled(app, settings, shard=0))
            case Runs.PER_SHARD:
                apps.extend(
                    _filled(
                        replace(
                            app,
                            name=f"{app.name}-{shard}",
                            what=f"matching engine of shard {shard} of {shards}",
                            port_offset=shard,
                        ),
                        settings,
                        shard=shard,
                    )
                    for shard in range(shards)
                )
            case Runs.SHARDED if shards > 1:
                apps.append(_filled(replace(app, port_offset=shards), settings))
    return tuple(apps)


def _filled(app: AppProcess, settings: Settings, shard: int = 0) -> AppProcess:
    """`app` with "{shard}" and "{port}" in its argv replaced."""
    if app.argv is None:
        return app
    port = str(app.port(settings))
    argv = tuple(arg.replace("{shard}", str(shard)).replace("{port}", port) for arg in app.argv)
    return replace(app, argv=argv)


def realtime_url(settings: Settings) -> str:
    """Where the stack serves Socket.IO: the standalone server with SBS_SHARDS > 1, else the
    one matcher, on the port `planned()` gives it."""
    serving = "realtime" if settings.shards > 1 else "matcher"
    port = next(app.port(settings) for app in planned(settings) if app.name == serving)
    return f"http://127.0.0.1:{port}"


def realtime_env(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """SBS_REALTIME_URL for the processes (so the API functions' .env carries it) when the
    standalone server runs, unless `environ` sets it already; with one shard nothing (the
    default, the matcher's URL, is right)."""
    if settings.shards == 1 or environ.get("SBS_REALTIME_URL", "").strip():
        return {}
    return {"SBS_REALTIME_URL": realtime_url(settings)}
