"""The matcher's HTTP endpoint: /health (JSON) and /metrics (Prometheus text).

`create_app` returns a plain aiohttp Application so the real-time issue can attach
python-socketio to the same app (`sio.attach(app)`) before it starts serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from aiohttp import web

from matcher.service.metrics import Metrics

log = logging.getLogger("matcher")
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


async def _health(request: web.Request) -> web.Response:
    return web.json_response(request.app[METRICS_KEY].health())


async def _metrics(request: web.Request) -> web.Response:
    text = request.app[METRICS_KEY].prometheus()
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def create_app(metrics: Metrics) -> web.Application:
    app = web.Application()
    app[METRICS_KEY] = metrics
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    return app


class HttpServer:
    """Serves an app from a thread with its own event loop, beside the blocking loop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, handle_signals=False)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            self.loop.run_until_complete(site.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            await self._runner.cleanup()
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self._thread.join(timeout=5)
