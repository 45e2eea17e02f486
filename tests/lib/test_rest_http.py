"""lib.rest_http.KeepAliveClient: the Upstash SDK's HTTP client in the API, against the
real REST front and against a raw socket server that misbehaves the ways servers do."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from upstash_redis import Redis as UpstashRedis

from lib.backends import UnavailableError, reaching
from lib.rest_http import KeepAliveClient, RestTransportError


@pytest.fixture
def sdk(upstash_url: str, upstash_token: str) -> Iterator[Any]:
    client: Any = UpstashRedis(upstash_url, upstash_token, rest_retries=0, allow_telemetry=False)
    transport = KeepAliveClient(timeout_s=5.0, max_idle=4)
    client._http._client = transport
    yield client
    transport.close()


def test_the_sdk_runs_commands_and_pipelines_through_it(sdk: Any) -> None:
    key = f"rest-http:{uuid.uuid4().hex}"
    sdk.execute(["SET", key, "v1", "EX", "60"])
    assert sdk.execute(["GET", key]) == "v1"
    batch = sdk.pipeline()  # the SDK's /pipeline request, through the same transport
    for command in (["INCR", key + ":n"], ["INCR", key + ":n"], ["GET", key]):
        batch.execute(command)
    assert batch.exec() == [1, 2, "v1"]
    with pytest.raises(Exception, match="WRONGTYPE"):  # Redis's own error, as the SDK raises
        sdk.execute(["LPUSH", key, "x"])


def test_one_connection_serves_sequential_requests(sdk: Any) -> None:
    transport: KeepAliveClient = sdk._http._client
    for n in range(20):
        sdk.execute(["ECHO", str(n)])
    idle = [conn for conns in transport._idle.values() for conn in conns]
    assert len(idle) == 1


def test_concurrent_requests_keep_at_most_max_idle(sdk: Any) -> None:
    transport: KeepAliveClient = sdk._http._client
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        for n in range(10):
            assert sdk.execute(["ECHO", str(n)]) == str(n)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= sum(len(conns) for conns in transport._idle.values()) <= transport.max_idle


class RawServer:
    """A real TCP server answering each request with `answers` in turn, one per
    connection unless `keep_open`, and closing the connection without saying so
    (no `Connection: close`), as a server does when an idle keep-alive times out."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.answers:
            conn, _ = self.listener.accept()
            self.connections += 1
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(answer)

    def close(self) -> None:
        self.listener.close()


def _http(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n".encode()
        + b"Content-Type: "
        + content_type
        + b"\r\n\r\n"
        + body
    )


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    server = RawServer([_http("200 OK", b'{"result":"one"}'), _http("200 OK", b'{"result":"two"}')])
    client = KeepAliveClient(timeout_s=5.0, max_idle=4)
    url = f"http://127.0.0.1:{server.port}/"
    try:
        assert client.post(url, headers={}, json=["ECHO", "one"]).json() == {"result": "one"}
        # The server has closed that connection; the client still holds it as idle.
        assert client.post(url, headers={}, json=["ECHO", "two"]).json() == {"result": "two"}
        assert server.connections == 2
    finally:
        client.close()
        server.close()


def test_an_answer_that_is_not_json_is_unavailable_not_a_crash() -> None:
    server = RawServer([_http("502 Bad Gateway", b"<html>bad gateway</html>", b"text/html")])
    client = KeepAliveClient(timeout_s=5.0, max_idle=4)
    try:
        answer = client.post(f"http://127.0.0.1:{server.port}/", headers={}, json=["PING"])
        assert answer.status_code == 502
        with pytest.raises(UnavailableError, match="redis: RestTransportError"), reaching("redis"):
            answer.json()
    finally:
        client.close()
        server.close()


def test_nothing_listening_is_unavailable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free once closed
    client = KeepAliveClient(timeout_s=2.0, max_idle=4)
    with pytest.raises(UnavailableError, match="redis"), reaching("redis"):
        client.post(f"http://127.0.0.1:{port}/", headers={}, json=["PING"])


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(RestTransportError, match="scheme"):
        KeepAliveClient(timeout_s=1.0, max_idle=1).post("ftp://example.invalid/", {}, ["PING"])
