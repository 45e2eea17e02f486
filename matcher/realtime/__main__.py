"""`python -m matcher.realtime`: a Socket.IO server for every symbol of every shard.

With SBS_SHARDS > 1 each matcher only sends its events through Redis; this process serves
the clients (as many of these as the number of clients needs: they share the events
through python-socketio's Redis client manager). `/api/config`'s `realtime_url`
(SBS_REALTIME_URL) points at it. With one shard the matcher serves Socket.IO itself.
"""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from lib.config import ConfigError, settings_or_exit
from matcher.realtime import MarketDataHub, key_authenticator

DEFAULT_PORT = 8090


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"role": "realtime", "ok": True})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matcher.realtime", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    settings = settings_or_exit()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s realtime %(levelname)s %(message)s")
    try:
        redis_url = settings.need("redis_url")
        mongodb_uri = settings.need("mongodb_uri")
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    app = web.Application()
    app.router.add_get("/health", _health)
    hub = MarketDataHub(settings, redis_url, key_authenticator(mongodb_uri, settings.mongodb_db))
    hub.attach(app)
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
