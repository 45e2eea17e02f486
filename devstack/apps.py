"""The project's own long-running processes that `python -m devstack run` starts after the
services, with the caller's environment plus the stack's. Adding one is one line in APPS.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from lib.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AppProcess:
    name: str
    # None while the process is planned but has no command yet.
    argv: tuple[str, ...] | None
    # Project-relative path that must exist before the process can run.
    needs: str | None = None
    # Settings field with its port: ready once that port accepts connections.
    port_setting: str | None = None
    what: str = ""

    def port(self, settings: Settings) -> int | None:
        return int(getattr(settings, self.port_setting)) if self.port_setting else None

    def missing(self) -> str | None:
        """Why this process cannot run yet, or None when it can."""
        if self.argv is None:
            return "not part of the stack yet"
        if self.needs and not (PROJECT_ROOT / self.needs).exists():
            return f"{self.needs} does not exist yet"
        return None


APPS: tuple[AppProcess, ...] = (
    AppProcess(
        "matcher",
        (sys.executable, "-m", "matcher"),
        "matcher/__main__.py",
        "matcher_port",
        "matching engine + Socket.IO",
    ),
    AppProcess("api", None, "vercel.json", "api_port", "REST API via `vercel dev --local`"),
)
