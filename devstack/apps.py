"""The project's own long-running processes that `python -m devstack run` starts after the
services, with the caller's environment plus the stack's. Adding one is one line in APPS.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

    def port(self, settings: Settings) -> int | None:
        return int(getattr(settings, self.port_setting)) if self.port_setting else None

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
        (sys.executable, "-m", "matcher"),
        "matcher/__main__.py",
        "matcher_port",
        "matching engine + Socket.IO",
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
