"""The API as Vercel serves it, and the dispatcher's fidelity to the real `vercel dev`.

(a) Static: every route and rewrite in vercel.json reaches an existing function file whose
    Flask app routes that path (a rewritten request arrives with its original path), and
    every function file is reachable by its own path.
(b) Every function imports with only requirements.txt installed (a throwaway venv made by
    uv), from a copy of exactly what .vercelignore lets Vercel upload; requirements.txt and
    pyproject.toml's [project].dependencies list the same requirements.
(c) Parity: `vercel dev --local` (npm `vercel` 60.1.3, through devstack/vercel.py as
    `make run` starts it) runs from a symlink copy of the project with its own `.env`,
    against the same stack, matcher and database as the `api` fixture's dispatcher; the
    same requests - every route and compatibility route, successes and refusals - must get
    the same status codes, the same answer headers that matter, and the same JSON bodies
    once the values that legitimately differ (generated ids, timestamps, cursors, the
    sequence, the side's own account and symbol) are replaced by placeholders.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement

from devstack import vercel
from devstack.dispatcher import Dispatcher, discover, load_rewrites
from tests.api_harness import Api, VercelApi, running_vercel_dev
from tests.routing import function_for, serves

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Each side's own book: no other test places orders on these symbols.
VERCEL_SYMBOL, DISPATCHER_SYMBOL = "S75", "S76"
MAX_DEPLOYED_FILES = 300  # vercel dev re-lists (and copies) the tree on every request


# --- (a) routes ------------------------------------------------------------------------


def test_every_route_and_rewrite_reaches_a_function_that_serves_it() -> None:
    config = json.loads((PROJECT_ROOT / "vercel.json").read_text())
    assert config["framework"] is None  # else the CLI looks for one Flask entry point
    dispatcher = Dispatcher(PROJECT_ROOT)
    files = {route.file for route in dispatcher.routes}
    expected = {
        file
        for file in (PROJECT_ROOT / "api").rglob("*.py")
        if not any(part.startswith("_") for part in file.relative_to(PROJECT_ROOT).parts)
    }
    assert files == expected and files
    # vercel.json's `functions` patterns cover every function (and match at least one).
    for pattern in config.get("functions", {}):
        matched = [f for f in files if fnmatch.fnmatch(str(f.relative_to(PROJECT_ROOT)), pattern)]
        assert matched, f"functions pattern {pattern!r} matches no function"
    # Every function is reachable by its own path, and that path is routed by its app.
    for file, path in vercel.function_paths(PROJECT_ROOT).items():
        assert function_for(dispatcher, path) == PROJECT_ROOT / file, (file, path)
        assert serves(dispatcher, PROJECT_ROOT / file, path), (file, path)
    # Every rewrite: its source matches no function's path, static or dynamic (so which
    # rule comes first does not matter), its destination reaches a function, and that
    # function's app routes the *source* path (which is what the function sees).
    rewrites = load_rewrites(PROJECT_ROOT)
    assert rewrites
    for source, destination in rewrites.items():
        shadowing = [r.file for r in dispatcher.routes if r.pattern.fullmatch(source)]
        assert not shadowing, f"{source} is also the path of {shadowing}"
        target = function_for(dispatcher, destination)
        assert target is not None and target.exists(), f"{source} -> {destination}: no function"
        assert serves(dispatcher, target, source), f"{target.name} does not route {source}"


# --- (b) dependencies ------------------------------------------------------------------


def _requirements(lines: list[str]) -> set[str]:
    found = set()
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            assert not text.startswith("-"), f"{text!r}: requirements.txt holds only requirements"
            found.add(str(Requirement(text)))
    return found


def test_pyproject_dependencies_are_requirements_txt() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    listed = _requirements((PROJECT_ROOT / "requirements.txt").read_text().splitlines())
    assert _requirements(pyproject["project"]["dependencies"]) == listed
    assert listed


def _ignore_patterns() -> list[str]:
    patterns = []
    for raw in (PROJECT_ROOT / ".vercelignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # The forms this copy understands: a name or glob, optionally anchored with "/".
        assert not line.startswith("!") and "/" not in line.lstrip("/").rstrip("/"), line
        patterns.append(line)
    return patterns


def _ignored(rel: PurePosixPath, patterns: list[str]) -> bool:
    for pattern in patterns:
        name = pattern.strip("/")
        if pattern.startswith("/"):
            if fnmatch.fnmatch(rel.parts[0], name):
                return True
        elif any(fnmatch.fnmatch(part, name) for part in rel.parts):
            return True
    return False


def copy_deployable(destination: Path) -> list[str]:
    """Copy what Vercel would upload (the project less .vercelignore and .git); the files."""
    patterns = [*_ignore_patterns(), "/.git"]
    copied = []
    for folder, dirs, names in os.walk(PROJECT_ROOT):
        rel_folder = PurePosixPath(Path(folder).relative_to(PROJECT_ROOT).as_posix())
        dirs[:] = [d for d in dirs if not _ignored(rel_folder / d, patterns)]
        for name in names:
            rel = rel_folder / name
            if _ignored(rel, patterns):
                continue
            target = destination / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / rel, target)
            copied.append(str(rel))
    return copied


def test_the_env_file_is_neither_committed_nor_uploaded() -> None:
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert _ignored(PurePosixPath(".env"), _ignore_patterns())
    text = vercel.env_file_text({"SBS_SYMBOLS": "ACME,GLOBEX:0.05", "MONGODB_DB": "", "X": "y"})
    assert text.splitlines()[-1] == "SBS_SYMBOLS='ACME,GLOBEX:0.05'"  # set settings only
    with pytest.raises(ValueError, match="MONGODB_URI"):
        vercel.env_file_text({"MONGODB_URI": "mongodb://it's/"})


_IMPORT_EVERY_FUNCTION = """
import importlib.util, json, sys
from pathlib import Path
root = Path(sys.argv[1])
sys.path.insert(0, str(root))
import flask
result = {}
for file in sys.argv[2:]:
    spec = importlib.util.spec_from_file_location("fn_" + str(len(result)), root / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result[file] = isinstance(getattr(module, "app", None), flask.Flask)
outside = sorted(
    name for name, m in list(sys.modules.items())
    if getattr(m, "__file__", None)
    and not m.__file__.startswith((str(root), sys.prefix, sys.base_prefix))
)
print(json.dumps({"apps": result, "outside": outside}))
"""


def test_every_function_imports_with_only_requirements_txt(tmp_path: Path) -> None:
    deployed = copy_deployable(tmp_path / "deploy")
    assert len(deployed) <= MAX_DEPLOYED_FILES, f"{len(deployed)} files would be uploaded"
    assert {"vercel.json", "requirements.txt", "pyproject.toml"} <= set(deployed)
    assert not [f for f in deployed if f.startswith((".env", "node_modules", "tests/"))]
    functions = sorted(vercel.function_paths(tmp_path / "deploy"))
    assert functions == sorted(vercel.function_paths(PROJECT_ROOT))
    uv = str(vercel.VERCEL_PATH / "uv")  # the uv Vercel's builder uses
    venv = tmp_path / "venv"
    python3 = vercel.VERCEL_PATH / "python3"
    subprocess.run([uv, "venv", "-q", "--python", str(python3), str(venv)], check=True, timeout=120)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
         "-r", str(tmp_path / "deploy" / "requirements.txt")],
        check=True, timeout=240,
    )  # fmt: skip
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", _IMPORT_EVERY_FUNCTION,
         str(tmp_path / "deploy"), *functions],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["apps"] == dict.fromkeys(functions, True)
    assert report["outside"] == []  # nothing came from the project's own venv or tree


# --- (c) parity ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vercel_api(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VercelApi]:
    yield from running_vercel_dev(api, tmp_path_factory)


def test_vercel_dev_runs_from_a_copy_with_its_own_env(vercel_api: VercelApi, api: Api) -> None:
    env_file = vercel_api.root / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert f"MONGODB_DB='{api.environ['MONGODB_DB']}'" in env_file.read_text().splitlines()
    assert not (vercel_api.root / ".env.partial").exists()
    warmed = vercel_api.process.warmed
    assert sorted(w.file for w in warmed) == sorted(vercel.function_paths(PROJECT_ROOT))
    assert all(w.answered for w in warmed), (warmed, vercel_api.messages)
    # Warm means fast: a second round answers without building anything again.
    for w in warmed:
        started = time.monotonic()
        httpx.get(f"{vercel_api.url}{w.path}", timeout=30)
        assert time.monotonic() - started < vercel.SLOW_REQUEST_S, w
    # The settings the functions read are the `.env`'s (80 symbols), not the defaults.
    symbols = httpx.get(f"{vercel_api.url}/api/config", timeout=30).json()["symbols"]
    assert len(symbols) == len(api.environ["SBS_SYMBOLS"].split(","))


def test_only_public_is_served_as_files(vercel_api: VercelApi) -> None:
    """With `public/`, Vercel serves that folder at `/` and nothing else of the project:
    without it, the project root itself would be served, sources and all."""
    page = httpx.get(f"{vercel_api.url}/", timeout=30)
    assert page.status_code == 200
    assert page.text == (PROJECT_ROOT / "public" / "index.html").read_text()
    for path in ("/lib/config.py", "/api/_http.py", "/vercel.json", "/requirements.txt"):
        assert httpx.get(f"{vercel_api.url}{path}", timeout=30).status_code == 404, path


@dataclass(frozen=True)
class Call:
    """One request, sent the same way to both servers. `{name}` in the path, in string
    values of `json` and in header values is replaced by the side's value (`sym`, and the
    order ids saved by earlier calls)."""

    label: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: str | None = "key"  # "key", "key2" (another account), or None
    save: str | None = None  # remember the response's order_id under this name
    own_symbol: bool = True  # the side's symbol in the answer stands for "<sym>"


BIG = "x" * (17 * 1024)
CALLS: tuple[Call, ...] = (
    Call("health", "GET", "/api/health", auth=None),
    Call("config", "GET", "/api/config", auth=None, own_symbol=False),
    Call("big header", "GET", "/api/health", auth=None, headers={"X-Filler": "y" * 20_000}),
    Call("place", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 10, "price": "100.00"}, save="o1"),
    Call("place compat", "POST", "/api/place_order",
         {"symbol": "{sym}", "side": -1, "quantity": 5, "price": 101}, save="o2"),
    Call("place idempotent", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 1, "price": 99},
         headers={"Idempotency-Key": "parity-{sym}"}, save="o4"),
    Call("place idempotent again", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 1, "price": 99},
         headers={"Idempotency-Key": "parity-{sym}"}),
    Call("list", "GET", "/api/orders"),
    Call("list filtered", "GET", "/api/orders?symbol={sym}&status=open&side=buy"),
    Call("list compat page", "GET", "/api/fetch_allOrders?limit=1"),
    Call("fetch", "GET", "/api/orders/{o1}"),
    Call("fetch compat query", "GET", "/api/fetch_order?order_id={o2}"),
    Call("fetch compat body", "GET", "/api/fetch_order", {"order_id": "{o2}"}),
    Call("modify", "PUT", "/api/orders/{o1}", {"updated_price": 100.5}),
    Call("modify compat", "PUT", "/api/modify_order",
         {"order_id": "{o1}", "price": "100.60", "quantity": 12}),
    Call("cross (other account)", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 5, "price": "101"}, auth="key2",
         save="o3"),
    Call("trades", "GET", "/api/trades?symbol={sym}", auth=None),
    Call("trades compat", "GET", "/api/fetch_trades?order_id={o2}", auth=None),
    Call("book", "GET", "/api/book?symbol={sym}&levels=3", auth=None),
    Call("cancel", "DELETE", "/api/orders/{o1}"),
    Call("cancel compat, already cancelled", "DELETE", "/api/cancel_order", {"order_id": "{o1}"}),
    Call("cancel compat, filled", "DELETE", "/api/cancel_order", {"order_id": "{o2}"}),
    Call("another account's order", "GET", "/api/orders/{o3}"),
    Call("another account's order, cancel", "DELETE", "/api/orders/{o3}"),
    Call("unknown order", "GET", "/api/orders/o000000000000ffffffffffffffff"),
    Call("invalid order id", "GET", "/api/orders/a*b"),
    Call("bad json", "POST", "/api/orders", content=b'{"side": "buy",',
         headers={"Content-Type": "application/json"}),
    Call("wrong content type", "POST", "/api/orders", content=b"side=buy&quantity=1",
         headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Call("no content type", "POST", "/api/orders", content=b'{"side": "buy"}'),
    Call("body over 16 KiB", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 1, "price": 1, "pad": BIG}),
    Call("body over 16 KiB, compat", "PUT", "/api/modify_order", {"order_id": "{o4}", "pad": BIG}),
    Call("unknown field", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 1, "price": 1, "colour": "red"}),
    Call("off-tick price", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 1, "price": "100.005"}),
    Call("duplicate field", "POST", "/api/orders",
         content=b'{"side": "buy", "side": "sell", "quantity": 1, "price": 1}',
         headers={"Content-Type": "application/json"}),
    Call("compat without order_id", "PUT", "/api/modify_order", {"price": 1}),
    Call("compat fetch, unknown query field", "GET", "/api/fetch_order?id={o2}"),
    Call("compat cancel, order_id in the query", "DELETE", "/api/cancel_order?order_id={o4}"),
    Call("405 place path", "DELETE", "/api/orders"),
    Call("405 order path", "PATCH", "/api/orders/{o4}"),
    Call("405 trades", "POST", "/api/trades", {"x": 1}, auth=None),
    Call("405 health", "PUT", "/api/health", auth=None),
    Call("405 rewritten", "PUT", "/api/place_order", {"x": 1}),
    Call("405 compat fetch", "POST", "/api/fetch_order", {"order_id": "{o4}"}),
    Call("no auth", "GET", "/api/orders", auth=None),
    Call("no auth, one order", "GET", "/api/orders/{o4}", auth=None),
    Call("bad key", "GET", "/api/orders", auth=None,
         headers={"Authorization": "Bearer sbs_00000000_" + "A" * 43}),
    Call("not bearer", "GET", "/api/orders", auth=None, headers={"Authorization": "Basic abc"}),
    Call("bad idempotency key", "POST", "/api/orders",
         {"symbol": "{sym}", "side": "buy", "quantity": 1, "price": 1},
         headers={"Idempotency-Key": "has space"}),
    Call("limit 0", "GET", "/api/orders?limit=0"),
    Call("limit twice", "GET", "/api/orders?limit=2&limit=3"),
    Call("bad cursor", "GET", "/api/trades?cursor=nonsense", auth=None),
    Call("unknown list filter", "GET", "/api/trades?colour=red", auth=None),
    Call("unknown symbol", "GET", "/api/book?symbol=NOPE", auth=None),
    Call("too many levels", "GET", "/api/book?symbol={sym}&levels=51", auth=None),
    Call("book default symbol", "GET", "/api/book", auth=None),
    Call("empty query values", "GET", "/api/orders?symbol=&limit="),
    Call("percent-encoded id", "GET", "/api/orders/{o4_pct}"),
    Call("percent-encoded slash", "GET", "/api/orders/a%2Fb"),
    Call("percent-encoded space", "GET", "/api/orders/a%20b"),
    Call("percent-encoded static path", "GET", "/api/%68ealth", auth=None),
    Call("trailing slash", "GET", "/api/orders/"),
    Call("trailing slash, function", "GET", "/api/health/", auth=None),
    Call("no such function", "GET", "/api/nope", auth=None),
    Call("no such function, json", "GET", "/api/nope", auth=None,
         headers={"Accept": "application/json"}),
    Call("private module", "GET", "/api/_http", auth=None),
    Call("client's own order_id param", "GET", "/api/orders/{o4}?order_id=zzz"),
    Call("head", "HEAD", "/api/health", auth=None),
    Call("a file's path with .py", "GET", "/api/health.py", auth=None),
    Call("a folder's path with .py", "GET", "/api/orders.py"),
    Call("index", "GET", "/api/orders/index"),
    Call("index.py", "GET", "/api/orders/index.py"),
    Call("index, trailing slash", "GET", "/api/orders/index/"),
    Call("dynamic segment with .py", "GET", "/api/orders/{o4}.py"),
    Call("dynamic segment, trailing slash", "GET", "/api/orders/{o4}/"),
    Call("two segments", "GET", "/api/orders/{o4}/x"),
    Call("the rewrite destination itself", "GET", "/api/orders/compat"),
    Call("rewrite source, trailing slash", "POST", "/api/place_order/", {"x": 1}),
    Call("rewrite source with .py", "GET", "/api/fetch_trades.py", auth=None),
    Call("rewrite source, other case", "GET", "/api/Fetch_Trades", auth=None),
    Call("double slash, GET", "GET", "//api//orders?limit=1"),
    Call("double slash, GET, json", "GET", "/api//health", auth=None,
         headers={"Accept": "application/json"}),
    Call("double slash, POST", "POST", "/api//orders", {"x": 1}),
    Call("double slash, DELETE", "DELETE", "/api/orders//{o4}"),
    Call("no such function, html", "GET", "/api/nope", auth=None,
         headers={"Accept": "text/html,application/xhtml+xml"}),
    Call("private module, .py", "GET", "/api/_http.py", auth=None),
)  # fmt: skip
# Headers whose value must match too (besides the status and the body).
COMPARED_HEADERS = ("content-type", "www-authenticate", "retry-after", "location")
TIME_FIELDS = frozenset({"created_at", "updated_at", "execution_timestamp", "timestamp"})
ID_FIELDS = frozenset({"order_id", "unique_id", "bid_order_id", "ask_order_id"})


@dataclass
class Side:
    """One server and the accounts, symbol and saved ids its calls use."""

    name: str
    client: httpx.Client
    key: str
    key2: str
    symbol: str
    saved: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            # `{o1_pct}`: the id with its first character percent-encoded.
            encoded = {f"{k}_pct": f"%{ord(v[0]):02X}{v[1:]}" for k, v in self.saved.items()}
            return value.format(sym=self.symbol, **self.saved, **encoded)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    def send(self, call: Call) -> httpx.Response:
        headers = {name: self.fill(value) for name, value in call.headers.items()}
        if call.auth is not None:
            headers["Authorization"] = f"Bearer {self.key if call.auth == 'key' else self.key2}"
        content = call.content
        if call.json is not None:
            content = json.dumps(self.fill(call.json)).encode()
            headers.setdefault("Content-Type", "application/json")
        return self.client.request(
            call.method, self.fill(call.path), content=content, headers=headers
        )

    def normalized(self, call: Call, response: httpx.Response) -> dict[str, Any]:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        if call.save and isinstance(body, dict) and "order_id" in body:
            self.saved[call.save] = body["order_id"]
        self._learn(body)
        if response.headers.get("content-type", "").startswith("text/html"):
            body = "<an html page>"  # Vercel's carries a request id; the dispatcher's is plain
        # The order of Allow's methods is Flask's set order, which differs per process.
        allowed = response.headers.get("allow")
        return {
            "status": response.status_code,
            "headers": {h: response.headers.get(h) for h in COMPARED_HEADERS},
            "allow": None if allowed is None else sorted(allowed.replace(" ", "").split(",")),
            "body": self._replace(body, own_symbol=call.own_symbol),
        }

    def _learn(self, value: Any, key: str | None = None) -> None:
        """Give each generated id a placeholder, in the order the answers show them."""
        if isinstance(value, dict):
            for k, v in value.items():
                self._learn(v, k)
        elif isinstance(value, list):
            for v in value:
                self._learn(v, key)
        elif key in ID_FIELDS and isinstance(value, str) and value not in self.placeholders:
            self.placeholders[value] = f"<id{len(self.placeholders)}>"

    def _replace(self, value: Any, key: str | None = None, own_symbol: bool = True) -> Any:
        if isinstance(value, dict):
            return {k: self._replace(v, k, own_symbol) for k, v in value.items()}
        if isinstance(value, list):
            return [self._replace(v, key, own_symbol) for v in value]
        if key in TIME_FIELDS and isinstance(value, str | int):
            return "<time>"
        if key == "next_cursor" and value is not None:
            return "<cursor>"
        if key == "sequence" and isinstance(value, int):
            return "<sequence>"
        if isinstance(value, str):
            for generated, placeholder in self.placeholders.items():
                value = value.replace(generated, placeholder)
            return value.replace(self.symbol, "<sym>") if own_symbol else value
        return value


def test_vercel_dev_and_the_dispatcher_answer_alike(vercel_api: VercelApi, api: Api) -> None:
    sides = []
    for name, url, symbol in (
        ("vercel dev", vercel_api.url, VERCEL_SYMBOL),
        ("dispatcher", api.url, DISPATCHER_SYMBOL),
    ):
        client = httpx.Client(base_url=url, timeout=30)
        sides.append(
            Side(name, client, api.new_account("parity")[1], api.new_account("other")[1], symbol)
        )
    differences = []
    try:
        for call in CALLS:  # each call on both sides before the next: shared state stays even
            answers = [side.normalized(call, side.send(call)) for side in sides]
            if answers[0] != answers[1]:
                differences.append((call.label, call.method, call.path, *answers))
    finally:
        for side in sides:
            side.client.close()
    report = "\n".join(
        f"{label}: {method} {path}\n  vercel dev: {a}\n  dispatcher: {b}"
        for label, method, path, a, b in differences
    )
    assert not differences, f"{len(differences)} of {len(CALLS)} calls differ:\n{report}"


def test_every_function_and_rewrite_is_exercised() -> None:
    """CALLS reaches every function and every rewrite source (so parity covers them)."""
    paths = {call.path.split("?", 1)[0] for call in CALLS}
    dispatcher = Dispatcher(PROJECT_ROOT)
    reached = {function_for(dispatcher, re.sub(r"\{\w+\}", "x", path)) for path in paths}
    assert {route.file for route in discover(PROJECT_ROOT)} <= reached
    assert set(load_rewrites(PROJECT_ROOT)) <= paths
