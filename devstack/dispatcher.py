"""The API's functions on one WSGI server, routed the way Vercel routes them.

`vercel dev --local` is the reference (and what `make run` serves); this dispatcher hosts
the very same Flask apps for tests and benchmarks that need speed and many concurrent
requests on a production WSGI server (gunicorn). It applies Vercel's rules, and a parity
test (tests/api/test_parity.py) holds the two to identical answers:

- every `api/**/*.py` file is a function, except files and folders starting with `_`;
  `index.py` serves its folder's path, `[name].py` one path segment of any value;
- a path that names a file wins over a dynamic segment;
- `vercel.json` rewrites (exact sources) pick the function, but the function still sees
  the original path, and a dynamic segment reaches it as a query parameter (unless the
  client sent one of the same name), as on Vercel;
- the path reaches the function undecoded (`%41` stays `%41`), as on Vercel.

    gunicorn -k gthread --threads 16 'devstack.dispatcher:app'
"""

from __future__ import annotations

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
_NOT_FOUND = b"The page could not be found.\n\nNOT_FOUND\n"


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    param: str | None  # the dynamic segment's name, if the file is `[name].py`
    file: Path


def discover(root: Path) -> list[Route]:
    """Every function under `root/api`, static paths before dynamic ones."""
    routes: list[Route] = []
    for file in sorted((root / "api").rglob("*.py")):
        parts = file.relative_to(root).with_suffix("").parts
        if any(part.startswith("_") for part in parts):
            continue
        segments = list(parts[:-1]) if parts[-1] == "index" else list(parts)
        param = None
        dynamic = re.fullmatch(r"\[(\w+)\]", segments[-1])
        if dynamic:
            param = dynamic.group(1)
            segments[-1] = f"(?P<{param}>[^/]+)"
            prefix = "/".join(re.escape(s) for s in segments[:-1])
            pattern = re.compile(f"/{prefix}/{segments[-1]}")
        else:
            pattern = re.compile("/" + "/".join(re.escape(s) for s in segments))
        routes.append(Route(pattern, param, file))
    return sorted(routes, key=lambda route: route.param is not None)


def load_rewrites(root: Path) -> dict[str, str]:
    config = json.loads((root / "vercel.json").read_text())
    return {rule["source"]: rule["destination"] for rule in config.get("rewrites", [])}


class Dispatcher:
    def __init__(self, root: Path = PROJECT_ROOT) -> None:
        self.routes = discover(root)
        self.rewrites = load_rewrites(root)
        self._apps: dict[Path, WsgiApp] = {}

    def app_for(self, file: Path) -> WsgiApp:
        app = self._apps.get(file)
        if app is None:
            name = "vercel_function_" + re.sub(r"\W", "_", str(file.relative_to(PROJECT_ROOT)))
            spec = importlib.util.spec_from_file_location(name, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            app = self._apps[file] = module.app
        return app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        path = raw_uri.split("?", 1)[0] if raw_uri else environ.get("PATH_INFO", "/")
        target = self.rewrites.get(path, path)
        for route in self.routes:
            match = route.pattern.fullmatch(target)
            if match is None:
                continue
            environ["PATH_INFO"] = path
            if route.param is not None:
                environ["QUERY_STRING"] = _with_param(
                    environ.get("QUERY_STRING", ""), route.param, match.group(route.param)
                )
            return self.app_for(route.file)(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [_NOT_FOUND]


def _with_param(query: str, name: str, value: str) -> str:
    """Vercel's way: the segment is added as a parameter unless the client sent one."""
    names = {part.split("=", 1)[0] for part in query.split("&") if part}
    if name in names:
        return query
    added = urlencode({name: value}, safe="%")
    return f"{query}&{added}" if query else added


app = Dispatcher()
