"""A lean keep-alive HTTP client for the Upstash REST SDK, in place of its httpx client.

Every Redis command the API sends is an HTTP request, three or four per order placed (rate
limit, enqueue, one or two looks for the reply). httpx spends about 640 µs of CPU on one
such request, the standard library's http.client about 180 µs (2-core reference machine,
requests to the local REST front; docs/BENCHMARKS.md): on a busy function that is half its
CPU. The SDK only calls `post(url, headers=..., json=...)` and reads `.headers.get()` and
`.json()` of the answer, so that is all this client offers.

Connections are kept per origin and reused by any thread, one request at a time each. A
request on a reused connection that the server had already closed (an idle timeout) is
sent again once on a new connection; every command the API sends is safe to repeat (the
SDK itself retries them, see lib.backends).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

# What a reused connection raises when the server closed it while it sat idle.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class RestTransportError(OSError):
    """An answer that is not the REST API's JSON (a proxy's error page, a cut body)."""


class RestResponse:
    __slots__ = ("body", "headers", "status_code")

    def __init__(self, status_code: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # case-insensitive .get(), as the SDK expects
        self.body = body

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise RestTransportError(f"HTTP {self.status_code}: the answer is not JSON") from None


class KeepAliveClient:
    def __init__(self, timeout_s: float, max_idle: int) -> None:
        self.timeout_s = timeout_s
        self.max_idle = max_idle  # per origin; more in use at once are opened and closed
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._ssl = ssl.create_default_context()

    def post(self, url: str, headers: dict[str, str], json: Any) -> RestResponse:  # SDK keyword
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "", parts.port or 0)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = _dumps(json)
        sent_headers = {**headers, "Content-Type": "application/json"}
        conn, reused = self._connection(origin)
        try:
            try:
                answer, will_close = self._exchange(conn, target, body, sent_headers)
            except _STALE:
                conn.close()
                if not reused:
                    raise
                conn = self._new(origin)
                answer, will_close = self._exchange(conn, target, body, sent_headers)
        except BaseException:
            conn.close()  # the new one too, when the second attempt failed
            raise
        if will_close:
            conn.close()
        else:
            self._release(origin, conn)
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()

    @staticmethod
    def _exchange(
        conn: http.client.HTTPConnection, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[RestResponse, bool]:
        """The answer, and whether the server closes the connection after it."""
        conn.request("POST", target, body, headers)
        answer = conn.getresponse()
        data = answer.read()  # all of it, or the connection cannot be reused
        return RestResponse(answer.status, answer.headers, data), answer.will_close

    def _connection(self, origin: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                return idle.pop(), True
        return self._new(origin), False

    def _new(self, origin: tuple[str, str, int]) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port or None, timeout=self.timeout_s, context=self._ssl
            )
        if scheme != "http":
            raise RestTransportError(f"unsupported URL scheme {scheme!r}")
        return http.client.HTTPConnection(host, port or None, timeout=self.timeout_s)

    def _release(self, origin: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
