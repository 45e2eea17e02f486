"""Provision a MongoDB wire-protocol server: MONGODB_URI, else `mongod` on PATH, else FerretDB.

FerretDB v1.24.2 is compiled from its Go module once per machine into a cache outside the
clone (`$XDG_CACHE_HOME/stockbrokerage/ferretdb-v1.24.2-id-index/ferretdb`), so every clone
reuses it.
A file lock makes concurrent provisioners wait for one build; the binary is written under a
temporary name and renamed, so a half-written binary is never seen.

Why not plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: the module
zip lacks `build/version/version.txt` (upstream generates it with `task gen-version`), and
such a binary panics at start-up ("Invalid build/version/version.txt file content"). So we
download that exact module version, add the one-line version file, and `go build` it.

One line of its source is changed first (ID_LOOKUP_FIX). The SQLite backend filters by
`_id` with the expression `_ferretdb_sjson->'$._id'` but builds the unique `_id` index on
`_ferretdb_sjson->"_id"`; SQLite uses an expression index only for the identical
expression, so every look-up, update or delete by `_id` scanned the whole collection
(docs/MONGODB.md has the figures). With the filter spelled as the index is, they are index
seeks, as on MongoDB: same path, same results, only the plan changes. The cache directory
carries the fix's name, so a binary built without it is never reused.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
# (file, upstream line, our line): `_id` filters in the expression the `_id` index is built on.
ID_LOOKUP_FIX = (
    "internal/backends/sqlite/metadata/metadata.go",
    "IDColumn = DefaultColumn + \"->'$._id'\"",
    'IDColumn = DefaultColumn + `->"_id"`',
)
BUILD_NAME = f"ferretdb-{FERRETDB_VERSION}-id-index"
# Well-known install location that is often missing from PATH in non-login shells.
_GO_FALLBACKS = ("/usr/local/go/bin/go",)

NO_MONGODB_HELP = (
    "no MongoDB server available; any one of these fixes it: "
    "(1) set MONGODB_URI to a MongoDB you can use (e.g. Atlas), "
    "(2) put a `mongod` binary on PATH, "
    "(3) install Go >= 1.24 (https://go.dev/dl/) so the stack can build FerretDB "
    f"{FERRETDB_VERSION} itself"
)


class ProvisionError(RuntimeError):
    """A server binary could not be found or built."""


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "stockbrokerage" / BUILD_NAME


def find_go() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    return next((go for go in _GO_FALLBACKS if os.access(go, os.X_OK)), None)


def find_mongod() -> str | None:
    return shutil.which("mongod")


def ferretdb_binary(say: Callable[[str], None] = print) -> Path:
    """Path of the cached FerretDB binary, building it first if this machine has none."""
    binary = cache_dir() / "ferretdb"
    if binary.is_file():
        return binary
    go = find_go()
    if go is None:
        raise ProvisionError(NO_MONGODB_HELP)
    binary.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(binary.parent / "build.lock", say):
        if not binary.is_file():  # another provisioner may have built it while we waited
            _build(go, binary, say)
    return binary


@contextmanager
def _exclusive_lock(path: Path, say: Callable[[str], None]) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"Another process is building FerretDB {FERRETDB_VERSION}; waiting for it ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(go: str, binary: Path, say: Callable[[str], None]) -> None:
    log_path = binary.parent / "build.log"
    say(
        f"Building FerretDB {FERRETDB_VERSION} with {go} - once per machine, a few minutes "
        f"on a cold Go cache (log: {log_path})"
    )
    started = time.monotonic()
    log_path.write_text("")
    # GOWORK/GOFLAGS from the caller's shell must not redirect this build; CGO is not needed
    # (the SQLite driver is pure Go), so no C compiler is required.
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "", "CGO_ENABLED": "0"}
    partial = binary.with_name(f"{binary.name}.partial-{os.getpid()}")
    with tempfile.TemporaryDirectory(dir=binary.parent, prefix="build-") as tmp:
        download = ["mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"]
        module_dir = json.loads(_go(go, download, tmp, env, log_path))["Dir"]
        source = Path(tmp) / "src"
        shutil.copytree(module_dir, source)
        _make_writable(source)  # the Go module cache is read-only
        (source / "build" / "version" / "version.txt").write_text(f"{FERRETDB_VERSION}\n")
        _apply_fix(source, *ID_LOOKUP_FIX)
        try:
            build = ["build", "-trimpath", "-buildvcs=false", "-o", str(partial), "./cmd/ferretdb"]
            _go(go, build, str(source), env, log_path)
            version = subprocess.run(
                [str(partial), "--version"], capture_output=True, text=True, check=False
            ).stdout
            if f"version: {FERRETDB_VERSION}" not in version:
                raise ProvisionError(f"the FerretDB build does not report {FERRETDB_VERSION}")
            partial.replace(binary)
        finally:
            partial.unlink(missing_ok=True)
    say(f"FerretDB {FERRETDB_VERSION} built in {time.monotonic() - started:.0f}s: {binary}")


def _go(go: str, args: list[str], cwd: str, env: dict[str, str], log_path: Path) -> str:
    """Run one go command, its stderr appended to the build log; returns its stdout."""
    with log_path.open("a") as log:
        log.write(f"$ go {' '.join(args)}\n")
        log.flush()
        result = subprocess.run(
            [go, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise ProvisionError(
            f"`go {args[0]}` for FerretDB failed with status {result.returncode} "
            f"(log {log_path}):\n{tail}\n{NO_MONGODB_HELP}"
        )
    return result.stdout


def _apply_fix(source: Path, relative: str, upstream: str, ours: str) -> None:
    path = source / relative
    text = path.read_text()
    if text.count(upstream) != 1:
        raise ProvisionError(f"FerretDB source changed: {upstream!r} not found once in {relative}")
    path.write_text(text.replace(upstream, ours))


def _make_writable(root: Path) -> None:
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o700)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o600)
