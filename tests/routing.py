"""Which api/ function answers a request, routed the way Vercel routes it (shared by tests).

`devstack.dispatcher` decides which function file a path reaches (its own path, a
`vercel.json` rewrite, a dynamic segment); `serves` then asks that function's Flask app
whether it has a rule for the path and, if given, the method - a rewritten request reaches
the function with its original path, so the app must route that path itself.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from devstack.dispatcher import Dispatcher


def serves(dispatcher: Dispatcher, file: Path, path: str, method: str | None = None) -> bool:
    """Whether the function's Flask app has a rule for `path`: for `method`, or for any
    method when `method` is None."""
    app = dispatcher.app_for(file)
    assert isinstance(app, Flask), file
    try:
        app.url_map.bind("localhost").match(path, method=method or "GET")
    except MethodNotAllowed:
        return method is None  # routed, for other methods
    except (NotFound, RequestRedirect):
        return False
    return True


def function_for(dispatcher: Dispatcher, path: str) -> Path | None:
    """The function file a request for `path` reaches (rewrites applied), or None."""
    found = dispatcher.resolve(path)
    return None if found is None else found[0].file


def routed(dispatcher: Dispatcher, method: str, path: str) -> Path | None:
    """The function file that answers `method path` with a route of its own, or None when
    no function does (no file for the path, or its app has no rule for that method)."""
    file = function_for(dispatcher, path)
    return file if file is not None and serves(dispatcher, file, path, method) else None
