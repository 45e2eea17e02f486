"""A TCP proxy that loses a reply on purpose, for durability tests.

The fault that durability code must survive is not "the server is down" but "the request
was executed and its answer never came back": the client cannot tell the two apart, so it
must retry, and the retry must be harmless. Stopping a server cannot produce that fault on
demand; this proxy can. It sits between a client in another process (the matcher's
redis-py or pymongo) and a real Valkey or FerretDB, follows both byte streams just enough
to know which request is which and when its answer is complete, and on an armed request
swallows the answer and closes both sides, after the server has answered, so the request
has surely been executed.

Only the standard library and pymongo's `bson` are used, so the tests need no new package.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import bson

WireProtocol = Literal["redis", "mongodb"]

_CHUNK = 65536
# Silence after the server's last byte that counts as "it has answered", when the exact end
# of the answer cannot be known (a connection the reply parser cannot follow), and the cap
# on that wait, measured from the moment the request was forwarded.
SILENCE = 0.1
SILENCE_CAP = 3.0
_CONNECT_TIMEOUT = 5.0
_JOIN_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a cut's `match` sees it."""

    name: str  # Redis: the upper-case command; MongoDB: the body's first key ("insert")
    target: str | None  # Redis: the first argument; MongoDB: the collection (when a string)
    db: str | None = None  # MongoDB: `$db`
    args: tuple[bytes, ...] = ()  # Redis: every argument after the name


@dataclass(slots=True)
class _Arm:
    match: Callable[[Request], bool]
    remaining: int


# --- Redis ---------------------------------------------------------------------------------


class _RespRequests:
    """Incremental parser of the client->server RESP stream: complete requests, in order."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._args: list[bytes] = []
        self._expected = 0  # arguments still due in the current array; 0 = between requests
        self._bulk = -1  # length of the bulk string being read; -1 = its header is due
        self.broken = False

    def feed(self, data: bytes) -> list[list[bytes]]:
        if self.broken:
            return []
        buf = self._buf
        buf += data
        pos = 0
        done: list[list[bytes]] = []
        try:
            while pos < len(buf):
                if self._expected == 0:
                    if buf[pos] == 0x2A:  # "*": an array of bulk strings, what clients send
                        end = buf.find(b"\r\n", pos)
                        if end < 0:
                            break
                        count = int(buf[pos + 1 : end])
                        pos = end + 2
                        if count > 0:  # "*0" and "*-1" are ignored by the server
                            self._expected, self._args = count, []
                        continue
                    end = buf.find(b"\n", pos)  # an inline command (telnet style)
                    if end < 0:
                        break
                    words = bytes(buf[pos:end]).split()
                    pos = end + 1
                    if words:  # an empty line gets no reply
                        done.append(words)
                    continue
                if self._bulk < 0:
                    end = buf.find(b"\r\n", pos)
                    if end < 0:
                        break
                    if buf[pos] != 0x24:  # "$"
                        raise ValueError("not a bulk string")
                    self._bulk = int(buf[pos + 1 : end])
                    if self._bulk < 0:
                        raise ValueError("negative bulk length")
                    pos = end + 2
                if len(buf) - pos < self._bulk + 2:
                    break
                self._args.append(bytes(buf[pos : pos + self._bulk]))
                pos += self._bulk + 2
                self._bulk = -1
                self._expected -= 1
                if self._expected == 0:
                    done.append(self._args)
        except ValueError:
            self.broken = True
            buf.clear()
            return done
        del buf[:pos]
        return done


_SIMPLE = frozenset(b"+-:,#_(")  # one line: status, error, integer, double, bool, null, bignum
_BLOBS = frozenset(b"$!=")  # a length line, then that many bytes and CRLF
_PUSH, _MAP, _ATTRIBUTE = 0x3E, 0x25, 0x7C  # ">", "%", "|"
_AGGREGATES = frozenset(b"*~>%|")


class _RespReplies:
    """Counts the complete replies in the server->client RESP2/RESP3 stream.

    RESP3 push messages (">") and attributes ("|") answer no request, so they are not counted.
    Bulk payloads are skipped, not buffered.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skip = 0  # bytes of the current bulk payload (and its CRLF) still to come
        self._stack: list[list[int]] = []  # open aggregates: [elements left, is attribute]
        self._push = False  # the top-level element being read is a push message
        self.count = 0
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        if self._skip:
            taken = min(self._skip, len(data))
            self._skip -= taken
            if self._skip:
                return
            data = data[taken:]
            self._element_done()
        buf = self._buf
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                kind = buf[pos]
                if not self._stack:
                    self._push = kind == _PUSH
                if kind in _SIMPLE:
                    pos = end + 2
                    self._element_done()
                    continue
                if kind not in _BLOBS and kind not in _AGGREGATES:
                    raise ValueError("unknown RESP type")
                size = int(buf[pos + 1 : end])
                pos = end + 2
                if kind in _BLOBS:
                    if size < 0:  # RESP2 null bulk string
                        self._element_done()
                    elif len(buf) - pos >= size + 2:
                        pos += size + 2
                        self._element_done()
                    else:
                        self._skip = size + 2 - (len(buf) - pos)
                        pos = len(buf)
                    continue
                if kind in (_MAP, _ATTRIBUTE):
                    size *= 2
                if size > 0:
                    self._stack.append([size, kind == _ATTRIBUTE])
                elif kind != _ATTRIBUTE:  # empty or null aggregate: complete already
                    self._element_done()
        except ValueError:
            self.broken = True
            buf.clear()
            return
        del buf[:pos]

    def _element_done(self) -> None:
        while self._stack:
            top = self._stack[-1]
            top[0] -= 1
            if top[0] > 0:
                return
            self._stack.pop()
            if top[1]:  # an attribute annotates the next element; it is not one itself
                return
        if not self._push:
            self.count += 1


# Commands after which replies no longer pair with requests one to one.
_UNPAIRED = frozenset(
    {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
     "MONITOR", "CLIENT"}
)  # fmt: skip


class _Tracker:
    """Follows one connection; knows whether it is doomed and whether its answer is in."""

    def __init__(self) -> None:
        self.doomed = False
        self.exact = True  # False: the end of the answer is unknown; wait for silence
        self.no_reply = False  # the doomed request gets no answer at all (MongoDB moreToCome)
        self.answered = False

    def from_client(self, data: bytes, claim: Callable[[Request], bool] | None) -> None:
        raise NotImplementedError

    def from_server(self, data: bytes) -> None:
        raise NotImplementedError

    def client_gone(self) -> None:
        """The client closed its side: nothing more will be sent to the server."""


class _RedisTracker(_Tracker):
    def __init__(self) -> None:
        super().__init__()
        self._requests = _RespRequests()
        self._replies = _RespReplies()
        self._sent = 0  # requests forwarded so far
        self._in_multi = False
        self._target: int | None = None  # how many replies complete the doomed answer
        self._awaiting_exec = False  # doomed inside MULTI: the answer is EXEC's

    def from_client(self, data: bytes, claim: Callable[[Request], bool] | None) -> None:
        for args in self._requests.feed(data):
            self._sent += 1
            name = args[0].decode("latin-1").upper()
            if name in _UNPAIRED and (name != "CLIENT" or _is_client_reply(args)):
                self.exact = False
            ends_multi = name in ("EXEC", "DISCARD")
            if self._awaiting_exec and ends_multi:
                self._target, self._awaiting_exec = self._sent, False
            elif not self.doomed and claim is not None and claim(_redis_request(name, args)):
                self.doomed = True
                # Inside MULTI a command only queues; it runs (and is answered) at EXEC.
                if self._in_multi and not ends_multi:
                    self._awaiting_exec = True
                else:
                    self._target = self._sent
            if name == "MULTI":
                self._in_multi = True
            elif ends_multi:
                self._in_multi = False
        if self._requests.broken:
            self.exact = False
        self._check()

    def from_server(self, data: bytes) -> None:
        self._replies.feed(data)
        if self._replies.broken:
            self.exact = False
        self._check()

    def client_gone(self) -> None:
        if self._awaiting_exec:  # no EXEC will come: the queued commands never run
            self.answered = True

    def _check(self) -> None:
        if self._target is not None and self._replies.count >= self._target:
            self.answered = True


def _is_client_reply(args: list[bytes]) -> bool:
    return len(args) > 1 and args[1].upper() == b"REPLY"


def _redis_request(name: str, args: list[bytes]) -> Request:
    target = args[1].decode("utf-8", "replace") if len(args) > 1 else None
    return Request(name=name, target=target, db=None, args=tuple(args[1:]))


# --- MongoDB -------------------------------------------------------------------------------

_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
OP_MSG = 2013
_CHECKSUM_PRESENT = 1
_MORE_TO_COME = 2


class _MongoFrames:
    """Cuts a wire-protocol byte stream into messages: (requestID, responseTo, opCode, body).

    The body is kept only when `keep` is true when the message starts; otherwise skipped.
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._body = bytearray()
        self._header: tuple[int, int, int] | None = None
        self._left = 0
        self._keep = False
        self.broken = False

    def feed(self, data: bytes, keep: bool) -> list[tuple[int, int, int, bytes | None]]:
        done: list[tuple[int, int, int, bytes | None]] = []
        pos, size = 0, len(data)
        while pos < size and not self.broken:
            if self._header is None:
                taken = min(_HEADER.size - len(self._head), size - pos)
                self._head += data[pos : pos + taken]
                pos += taken
                if len(self._head) < _HEADER.size:
                    break
                length, request_id, response_to, op_code = _HEADER.unpack(self._head)
                self._head.clear()
                if length < _HEADER.size:
                    self.broken = True
                    break
                self._header = (request_id, response_to, op_code)
                self._left, self._keep = length - _HEADER.size, keep
                self._body.clear()
            taken = min(self._left, size - pos)
            if self._keep:
                self._body += data[pos : pos + taken]
            pos += taken
            self._left -= taken
            if self._left == 0:
                request_id, response_to, op_code = self._header
                body = bytes(self._body) if self._keep else None
                done.append((request_id, response_to, op_code, body))
                self._header = None
        return done


def _op_msg_request(body: bytes) -> tuple[Request, int] | None:
    """The command in an OP_MSG body and its flagBits, or None when there is none."""
    try:
        (flags,) = struct.unpack_from("<I", body, 0)
        pos, end = 4, len(body) - (4 if flags & _CHECKSUM_PRESENT else 0)
        while pos < end:
            kind = body[pos]
            (size,) = struct.unpack_from("<i", body, pos + 1)
            if kind == 0:
                document = bson.decode(body[pos + 1 : pos + 1 + size])
                break
            if kind != 1 or size < 4:
                return None
            pos += 1 + size
        else:
            return None
    except (struct.error, IndexError, bson.errors.BSONError):
        return None
    if not document:
        return None
    name, value = next(iter(document.items()))
    db = document.get("$db")
    request = Request(
        name=name,
        target=value if isinstance(value, str) else None,
        db=db if isinstance(db, str) else None,
        args=(),
    )
    return request, flags


class _MongoTracker(_Tracker):
    def __init__(self) -> None:
        super().__init__()
        self._requests = _MongoFrames()
        self._replies = _MongoFrames()
        self._target: int | None = None  # requestID of the doomed request

    def from_client(self, data: bytes, claim: Callable[[Request], bool] | None) -> None:
        keep = claim is not None and not self.doomed
        for request_id, _, op_code, body in self._requests.feed(data, keep):
            if self.doomed or claim is None or op_code != OP_MSG or body is None:
                continue
            parsed = _op_msg_request(body)
            if parsed is None or not claim(parsed[0]):
                continue
            self.doomed, self._target = True, request_id
            if parsed[1] & _MORE_TO_COME:  # an unacknowledged write: no answer will come
                self.exact, self.no_reply = False, True
        if self._requests.broken:
            self.exact = False

    def from_server(self, data: bytes) -> None:
        for _, response_to, _, _ in self._replies.feed(data, keep=False):
            if self._target is not None and response_to == self._target:
                self.answered = True
        if self._replies.broken:
            self.exact = False


# --- the proxy -----------------------------------------------------------------------------


class _Connection:
    """One client connection and its upstream twin, served by one thread."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, number: int) -> None:
        self._proxy = proxy
        self._client = client
        self._upstream: socket.socket | None = None
        self._lock = threading.Lock()  # closing vs. aborting from another thread
        self._closed = False
        self._aborted = False
        self.thread = threading.Thread(
            target=self._run, name=f"faultproxy-{proxy.port}-conn{number}", daemon=True
        )

    def abort(self) -> None:
        """Wake the serving thread by shutting both sockets; it then closes them itself."""
        with self._lock:
            self._aborted = True
            if self._closed:
                return
            for sock in (self._client, self._upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        cut = False
        try:
            cut = self._serve()
        except OSError:  # a reset, a broken pipe, or our own abort(): the connection ends
            pass
        finally:
            with self._lock:
                cut = cut and not self._aborted
                if cut:  # counted before closing: a client that saw the cut sees it counted
                    self._proxy._count_cut()
                self._closed = True
                for sock in (self._client, self._upstream):
                    if sock is not None:
                        sock.close()
            self._proxy._forget(self, cut)

    def _serve(self) -> bool:
        """Forward both ways until either side closes; True if it ended in a cut."""
        proxy = self._proxy
        upstream = socket.create_connection(proxy.upstream, timeout=_CONNECT_TIMEOUT)
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._upstream = upstream
            if self._aborted:
                return False
        client = self._client
        tracker: _Tracker = _RedisTracker() if proxy.protocol == "redis" else _MongoTracker()
        # poll, not select: a test process may well hold more than 1024 descriptors.
        poller = select.poll()
        for sock in (client, upstream):
            poller.register(sock, select.POLLIN)
        client_fd, upstream_fd = client.fileno(), upstream.fileno()
        doomed_at: float | None = None
        last_reply: float | None = None
        while True:
            timeout: float | None = None
            if doomed_at is not None and not tracker.exact:
                timeout = _silence_left(doomed_at, last_reply, tracker.no_reply)
                if timeout <= 0:
                    return True
            ready = {fd for fd, _ in poller.poll(None if timeout is None else timeout * 1000)}
            # Server bytes first: if both are ready, these were sent before the client's new
            # bytes were forwarded, so they cannot be the answer to a request in them.
            if upstream_fd in ready:
                data = upstream.recv(_CHUNK)
                if not data:
                    return doomed_at is not None
                tracker.from_server(data)
                if doomed_at is None:
                    client.sendall(data)
                else:
                    last_reply = time.monotonic()
                    if tracker.exact and tracker.answered:
                        return True
            if client_fd in ready:
                data = client.recv(_CHUNK)
                if not data:
                    if doomed_at is None:
                        return False
                    # Keep waiting for the server's answer: the request must have run.
                    poller.unregister(client)
                    tracker.client_gone()
                    if tracker.exact and tracker.answered:
                        return True
                    continue
                tracker.from_client(data, proxy._claim if proxy._arms else None)
                upstream.sendall(data)
                if doomed_at is None and tracker.doomed:
                    doomed_at = time.monotonic()


def _silence_left(doomed_at: float, last_reply: float | None, no_reply: bool) -> float:
    now = time.monotonic()
    cap = doomed_at + SILENCE_CAP - now
    if last_reply is not None:
        return min(cap, last_reply + SILENCE - now)
    if no_reply:
        return min(cap, doomed_at + SILENCE - now)
    return cap


class FaultProxy:
    """A proxy from 127.0.0.1:`port` to a Redis or MongoDB server that can lose replies."""

    def __init__(self, upstream_host: str, upstream_port: int, protocol: WireProtocol) -> None:
        if protocol not in ("redis", "mongodb"):
            raise ValueError(f"unknown protocol {protocol!r}")
        self.upstream = (upstream_host, upstream_port)
        self.protocol: WireProtocol = protocol
        self.port = 0
        self._lock = threading.Lock()
        self._cut_done = threading.Condition(self._lock)
        self._arms: list[_Arm] = []
        self._cuts = 0
        self._connections: set[_Connection] = set()
        self._accepted = 0
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = False

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        if self._listener is not None:
            raise RuntimeError("the proxy is already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._wake = socket.socketpair()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"faultproxy-{self.port}-accept", daemon=True
        )
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; return once every thread has ended."""
        with self._lock:
            if self._stopping or self._listener is None:
                return
            self._stopping = True
        assert self._wake is not None and self._acceptor is not None
        self._wake[1].send(b"x")
        self._acceptor.join(_JOIN_TIMEOUT)
        self._listener.close()
        for sock in self._wake:
            sock.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.abort()
        for connection in connections:
            connection.thread.join(_JOIN_TIMEOUT)

    def url(self, template: str) -> str:
        """`template` (a redis:// or mongodb:// URL) with its host(s) replaced by this proxy."""
        parts = urlsplit(template)
        if parts.scheme not in ("redis", "mongodb"):
            raise ValueError(f"not a redis:// or mongodb:// URL: {template!r}")
        if not self.port:
            raise RuntimeError("start the proxy first: its port is not known yet")
        userinfo, at, _ = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{userinfo}{at}127.0.0.1:{self.port}"))

    def cut_reply(self, match: Callable[[Request], bool], times: int = 1) -> None:
        """Lose the answer to the next `times` requests that `match`.

        Such a request is forwarded; its answer (and anything after it) is swallowed, and
        both sides are closed once the server has answered. A match on a connection already
        doomed does not use up an arm: each arm use is one cut. `match` runs on the proxy's
        threads, under its lock: keep it a quick predicate (if it raises, that connection
        ends and the error goes to `threading.excepthook`, which pytest reports).
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._arms.append(_Arm(match, times))

    def disarm(self) -> None:
        """Forget every armed cut that has not happened yet."""
        with self._lock:
            self._arms.clear()

    @property
    def cuts(self) -> int:
        with self._lock:
            return self._cuts

    def wait_cuts(self, n: int, timeout: float) -> bool:
        """Wait until at least `n` cuts were performed; False if `timeout` passed first."""
        with self._cut_done:
            return self._cut_done.wait_for(lambda: self._cuts >= n, timeout)

    def drop_all(self) -> None:
        """Close every open connection now, both sides (a network blip, not a lost reply)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.abort()

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        poller = select.poll()
        for sock in (self._listener, self._wake[0]):
            poller.register(sock, select.POLLIN)
        listener, wake_fd = self._listener, self._wake[0].fileno()
        while True:
            if any(fd == wake_fd for fd, _ in poller.poll()):
                return
            try:
                client, _ = listener.accept()
            except OSError:  # the client gave up before we accepted
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stopping:
                    client.close()
                    return
                self._accepted += 1
                connection = _Connection(self, client, self._accepted)
                self._connections.add(connection)
            connection.thread.start()

    def _claim(self, request: Request) -> bool:
        with self._lock:
            for arm in self._arms:
                if arm.match(request):
                    arm.remaining -= 1
                    if arm.remaining == 0:
                        self._arms.remove(arm)
                    return True
        return False

    def _count_cut(self) -> None:
        with self._lock:
            self._cuts += 1

    def _forget(self, connection: _Connection, cut: bool) -> None:
        with self._cut_done:
            self._connections.discard(connection)
            if cut:  # waiters wake once the sockets are closed
                self._cut_done.notify_all()


__all__ = ["SILENCE", "SILENCE_CAP", "FaultProxy", "Request"]
