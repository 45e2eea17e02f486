"""The API's functions on one WSGI server, routed the way Vercel routes them.

`vercel dev --local` is the reference (and what `make run` serves); this dispatcher hosts
the very same Flask apps for tests and benchmarks that need speed and many concurrent
requests on a production WSGI server (gunicorn). It applies the rules `vercel dev` 60.1.3
applies to this project's shape, and a parity test (tests/api/test_vercel.py) holds the two
to identical answers:

- every `api/**/*.py` file is a function, except files and folders starting with `_`;
- a request path that contains `//` is cleaned first: a GET is redirected (301) to the
  path with single slashes, any other method goes on with it;
- then, in order, the first rule that matches picks the function:
  1. a file's own path, with or without `.py`: `api/a/f.py` serves `/api/a/f` and
     `/api/a/f.py`; `api/a/index.py` serves `/api/a`, `/api/a/`, `/api/a/index` and
     `/api/a/index.py` (no other trailing slash is forgiven);
  2. a `vercel.json` rewrite whose source is exactly the path: its destination is routed
     by rules 1 and 3;
  3. a dynamic segment: `[name]` (file or folder) matches any one non-empty segment;
  4. a path ending in `.py`: the same path without it, by rules 1 and 3;
- the function sees the original path, undecoded (`%41` stays `%41`; only a cleaned `//`
  is not original), and each dynamic segment as a query parameter, unless the client sent
  one of that name;
- no match: 404 `NOT_FOUND`, as JSON if `Accept` mentions json, else HTML if it mentions
  html, else plain text (the same bodies; the HTML page is simpler than Vercel's);
- not served at all: paths outside the functions' rules. `vercel dev` serves the project's
  other files there as static files while there is no `public/` (a listing at `/`, and
  e.g. `/lib/config.py`); that is the page's business, not the API's.

    gunicorn -k gthread --threads 16 'devstack.dispatcher:app'
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_DYNAMIC = re.compile(r"\[(\w+)\]")


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    params: tuple[str, ...]  # the dynamic segments' names (`[name]`), in path order
    file: Path

    @property
    def dynamic(self) -> bool:
        return bool(self.params)


def discover(root: Path) -> list[Route]:
    """Every function under `root/api`: files' own paths first, then dynamic ones."""
    routes: list[Route] = []
    for file in sorted((root / "api").rglob("*.py")):
        parts = file.relative_to(root).with_suffix("").parts
        if any(part.startswith("_") for part in parts):
            continue
        index = parts[-1] == "index"
        segments = parts[:-1] if index else parts
        params = []
        regex = ""
        for segment in segments:
            dynamic = _DYNAMIC.fullmatch(segment)
            if dynamic:
                params.append(dynamic.group(1))
                regex += f"/(?P<{dynamic.group(1)}>[^/]+)"
            else:
                regex += "/" + re.escape(segment)
        if index:
            regex += r"(?:/|/index|/index\.py)?"
        elif not params:
            regex += r"(?:\.py)?"
        routes.append(Route(re.compile(regex), tuple(params), file))
    return sorted(routes, key=lambda route: route.dynamic)


def load_rewrites(root: Path) -> dict[str, str]:
    config = json.loads((root / "vercel.json").read_text())
    return {rule["source"]: rule["destination"] for rule in config.get("rewrites", [])}


class Dispatcher:
    def __init__(self, root: Path = PROJECT_ROOT) -> None:
        self.root = root
        self.routes = discover(root)
        self.rewrites = load_rewrites(root)
        self._apps: dict[Path, WsgiApp] = {}

    def app_for(self, file: Path) -> WsgiApp:
        app = self._apps.get(file)
        if app is None:
            name = "vercel_function_" + re.sub(r"\W", "_", str(file.relative_to(self.root)))
            spec = importlib.util.spec_from_file_location(name, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            app = self._apps[file] = module.app
        return app

    def resolve(self, path: str) -> tuple[Route, re.Match[str]] | None:
        """The function that serves `path` (already free of `//`), by rules 1-4."""
        found = self._match(path, dynamic=False)
        if found is None and path in self.rewrites:
            destination = self.rewrites[path]
            found = self._match(destination, dynamic=False) or self._match(destination, True)
        if found is None:
            found = self._match(path, dynamic=True)
        if found is None and path.endswith(".py"):
            bare = path.removesuffix(".py")
            found = self._match(bare, dynamic=False) or self._match(bare, dynamic=True)
        return found

    def _match(self, path: str, dynamic: bool) -> tuple[Route, re.Match[str]] | None:
        for route in self.routes:
            if route.dynamic == dynamic:
                match = route.pattern.fullmatch(path)
                if match is not None:
                    return route, match
        return None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        path = raw_uri.split("?", 1)[0] if raw_uri else environ.get("PATH_INFO", "/")
        if "//" in path:
            path = re.sub("/+", "/", path)
            if environ.get("REQUEST_METHOD") == "GET":
                query = environ.get("QUERY_STRING", "")
                return _redirect(environ, start_response, f"{path}?{query}" if query else path)
        found = self.resolve(path)
        if found is None:
            return _not_found(environ, start_response)
        route, match = found
        environ["PATH_INFO"] = path
        for param in route.params:
            environ["QUERY_STRING"] = _with_param(
                environ.get("QUERY_STRING", ""), param, match.group(param)
            )
        return self.app_for(route.file)(environ, start_response)


def _with_param(query: str, name: str, value: str) -> str:
    """Vercel's way: the segment is added as a parameter unless the client sent one."""
    names = {part.split("=", 1)[0] for part in query.split("&") if part}
    if name in names:
        return query
    added = urlencode({name: value}, safe="%")
    return f"{query}&{added}" if query else added


def _answer(
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    status: str,
    bodies: tuple[object, str, str],
    headers: tuple[tuple[str, str], ...] = (),
) -> Iterable[bytes]:
    """`vercel dev`'s own answers: JSON if Accept mentions json, else HTML if it mentions
    html, else plain text (`bodies`: the JSON value, the HTML, the text)."""
    accept = environ.get("HTTP_ACCEPT", "text/plain")
    value, page, text = bodies
    if "json" in accept:
        content_type, body = "application/json", json.dumps(value, separators=(",", ":")) + "\n"
    elif "html" in accept:
        content_type, body = "text/html; charset=utf-8", page
    else:
        content_type, body = "text/plain; charset=utf-8", text
    start_response(status, [("Content-Type", content_type), *headers])
    return [body.encode()]


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    message = "The page could not be found."
    page = f"<!DOCTYPE html><html><head><title>404: NOT_FOUND</title></head><body>{message}"
    return _answer(
        environ,
        start_response,
        "404 Not Found",
        ({"error": {"code": 404, "message": message}}, f"{page}</body></html>\n",
         f"{message}\n\nNOT_FOUND\n"),
    )  # fmt: skip


def _redirect(
    environ: dict[str, Any], start_response: Callable[..., Any], location: str
) -> Iterable[bytes]:
    shown = html.escape(location)
    page = f'<!DOCTYPE html><html><body>Redirecting to <a href="{shown}">{shown}</a>'
    return _answer(
        environ,
        start_response,
        "301 Moved Permanently",
        ({"redirect": location, "status": "301"}, f"{page}</body></html>\n", "Redirecting...\n"),
        (("Location", location),),
    )


app = Dispatcher()
