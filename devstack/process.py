"""One supervised child process: its own process group, a log file, a readiness probe.

`stop()` terminates the whole group (SIGTERM, a grace period, then SIGKILL) and `start()`
runs the same command again, so a service comes back on the same port and data dir.
Three layers keep children from outliving us: `Stack`/CLI shutdown, an atexit hook, and
PR_SET_PDEATHSIG (Linux), which sends SIGTERM to a child when the thread that started it
dies - even by SIGKILL. Start services from a long-lived thread (the main one) for that.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_LIVE: set[ManagedProcess] = set()


class ServiceError(RuntimeError):
    """A service could not be started or did not become ready."""


class ManagedProcess:
    """A child process the stack owns. `url`, `port` and `data_dir` describe what it serves."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        url: str = "",
        port: int | None = None,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = tuple(argv)
        self.log_path = log_path
        self.url = url
        self.port = port
        self.data_dir = data_dir
        self._ready = ready
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._ready_timeout = ready_timeout
        self._popen: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid} url={self.url!r}>"

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        """Start the process and wait until it answers its readiness probe."""
        if self.running:
            raise ServiceError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # append: a restart keeps the earlier output
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {stamp} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                process_group=0,  # Ctrl-C reaches only us; we stop children in order
                preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 - see module doc
            )
        _LIVE.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int | None:
        """Terminate the process group: SIGTERM, wait `grace` seconds, then SIGKILL.

        Returns the exit status, or None when it was not running.
        """
        popen, self._popen = self._popen, None
        _LIVE.discard(self)
        if popen is None:
            return None
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait()
        # Anything the leader left behind in its group (helpers, grandchildren) goes too.
        _signal_group(popen.pid, signal.SIGKILL)
        return popen.returncode

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._ready_timeout
        pause = 0.02
        while True:
            assert self._popen is not None
            status = self._popen.poll()
            if status is not None:
                raise ServiceError(
                    f"{self.name} exited with status {status} while starting; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if self._probe():
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} did not become ready within {self._ready_timeout:.0f}s; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _probe(self) -> bool:
        try:
            return self._ready()
        except Exception:
            return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def in_child() -> None:  # runs between fork and exec: keep it to two syscalls
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return in_child


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_LIVE):
        process.stop(grace=5.0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether a server could listen on `port` now.

    SO_REUSEADDR, as every server of the stack sets it: connections of a stopped server
    linger in TIME_WAIT for a minute, and without it a `make run` right after the last
    one would move to other ports.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def accepts_tcp(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
