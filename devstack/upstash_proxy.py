"""An Upstash-REST-compatible HTTP front on a real Redis, so API code runs `upstash-redis`.

Protocol (as the Upstash REST API and the `upstash-redis` SDK speak it):
- `POST /` with a JSON command array `["SET", "k", "v"]` -> `{"result": ...}`, or
  `{"error": "..."}` with status 400 when Redis answers with an error.
- `POST /pipeline` with an array of commands -> `[{"result": ...} | {"error": "..."}, ...]`.
- `POST /multi-exec`: the same, run as one MULTI/EXEC transaction.
- `Authorization: Bearer <token>` is required (401 otherwise).
- `Upstash-Encoding: base64`: every string in a result is base64 encoded except a bare
  "OK", exactly what the SDK's `decode()` undoes; integers and nulls stay as they are.
- Blocking commands and commands that change connection state are refused, as Upstash
  refuses them: a pooled HTTP request must never hold or alter a Redis connection.

Results are RESP2 values as Redis sends them (no client-side conversions), error texts
are Redis's own (`ERR ...`, `WRONGTYPE ...`). Run it as
`python -m devstack.upstash_proxy --port P --redis-url URL` with the token in
UPSTASH_REDIS_REST_TOKEN.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from redis import exceptions as redis_errors
from redis._parsers import _AsyncRESP2Parser
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import AbstractConnection

MAX_BODY_BYTES = 16 * 1024 * 1024
POOL_SIZE = 64

_BLOCKING = frozenset({
    "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
    "WAIT", "WAITAOF", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
    "SUNSUBSCRIBE", "MONITOR", "SYNC", "PSYNC",
})  # fmt: skip
# Connection state would leak into the next request that borrows the pooled connection.
_CONNECTION_STATE = frozenset({
    "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT", "AUTH", "HELLO", "RESET", "QUIT",
})  # fmt: skip

Command = list[str]
_POOL_KEY = web.AppKey("pool", BlockingConnectionPool)
_TOKEN_KEY = web.AppKey("token", str)


class _FullErrorParser(_AsyncRESP2Parser):
    """redis-py strips the `ERR ` prefix from error replies; Upstash shows Redis's full text."""

    @classmethod
    def parse_error(cls, response: str) -> redis_errors.ResponseError:
        error: redis_errors.ResponseError = super().parse_error(response)  # type: ignore[no-untyped-call]
        error.args = (response,)
        return error


class BadRequestError(Exception):
    """The HTTP request is not a well-formed command; answered with 400."""


def refusal(command: Command) -> str | None:
    """Why Upstash would not run `command` over REST, or None when it would."""
    name = command[0].upper()
    if name in _BLOCKING or (name in ("XREAD", "XREADGROUP") and _has_block_option(command)):
        return f"ERR blocking command {name} is not supported by the REST API"
    if name in _CONNECTION_STATE:
        return f"ERR command {name} is not supported by the REST API (use /multi-exec)"
    return None


def _has_block_option(command: Command) -> bool:
    """Whether XREAD/XREADGROUP carries BLOCK among its options (before STREAMS)."""
    args = command[1:]
    index = 0
    while index < len(args):
        upper = args[index].upper()
        if upper == "STREAMS":
            return False
        if upper == "BLOCK":
            return True
        # GROUP takes two names (a consumer may be called "block"); COUNT and CLAIM a number.
        index += {"GROUP": 3, "COUNT": 2, "CLAIM": 2}.get(upper, 1)
    return False


def parse_command(value: Any) -> Command:
    if not isinstance(value, list) or not value:
        raise BadRequestError("ERR a command must be a non-empty JSON array")
    if not all(isinstance(arg, str) for arg in value):
        raise BadRequestError("ERR command arguments must be JSON strings or numbers")
    return value


def encode(value: Any, b64: bool) -> Any:
    """A RESP2 reply as Upstash writes it into JSON."""
    if isinstance(value, bytes):
        if not b64:
            return value.decode("utf-8", errors="replace")
        return "OK" if value == b"OK" else base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [encode(item, b64) for item in value]
    if isinstance(value, redis_errors.ResponseError):  # an error nested in an array reply
        return str(value)
    return value  # int or None


def _item(value: Any, b64: bool) -> dict[str, Any]:
    if isinstance(value, redis_errors.ResponseError):
        return {"error": str(value)}
    return {"result": encode(value, b64)}


async def _read_reply(conn: AbstractConnection) -> Any:
    try:
        return await conn.read_response(disable_decoding=True)
    except redis_errors.ResponseError as error:  # a whole-reply error: keep it as the value
        return error


async def _run(pool: BlockingConnectionPool, commands: Sequence[Command], transaction: bool) -> Any:
    """Send all commands in one write on one connection; the list of replies (or EXEC's)."""
    wire = [("MULTI",), *commands, ("EXEC",)] if transaction else commands
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await conn.send_packed_command(conn.pack_commands(wire))
        replies = [await _read_reply(conn) for _ in wire]
    except BaseException:
        await conn.disconnect()  # the reply stream is out of step: never reuse it
        raise
    finally:
        await pool.release(conn)
    if not transaction:
        return replies
    queued, result = replies[1:-1], replies[-1]
    if isinstance(result, redis_errors.ResponseError):
        first = next((r for r in queued if isinstance(r, redis_errors.ResponseError)), result)
        return redis_errors.ResponseError(f"EXECABORT Transaction discarded: {first}")
    return result


async def _body(request: web.Request) -> Any:
    if not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {request.app[_TOKEN_KEY]}"
    ):
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "Unauthorized"}), content_type="application/json"
        )
    raw = await request.read()
    try:
        # Numbers stay as their JSON text: Redis gets "1.50" as sent, not a Python float.
        return json.loads(raw, parse_int=str, parse_float=str, parse_constant=str)
    except ValueError:
        raise BadRequestError("ERR request body is not valid JSON") from None


def _answer(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(payload, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


async def single(request: web.Request) -> web.Response:
    command = parse_command(await _body(request))
    reason = refusal(command)
    if reason is not None:
        return _answer({"error": reason}, 400)
    (reply,) = await _run(request.app[_POOL_KEY], [command], transaction=False)
    item = _item(reply, _wants_base64(request))
    return _answer(item, 400 if "error" in item else 200)


async def pipeline(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, list):
        raise BadRequestError("ERR a pipeline must be a JSON array of commands")
    commands = [parse_command(value) for value in body]
    reasons = [refusal(command) for command in commands]
    runnable = [command for command, reason in zip(commands, reasons, strict=True) if not reason]
    replies = iter(await _run(request.app[_POOL_KEY], runnable, transaction=False))
    b64 = _wants_base64(request)
    return _answer([{"error": r} if r else _item(next(replies), b64) for r in reasons])


async def multi_exec(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, list):
        raise BadRequestError("ERR a transaction must be a JSON array of commands")
    commands = [parse_command(value) for value in body]
    reason = next(filter(None, map(refusal, commands)), None)
    if reason is not None:
        return _answer({"error": reason}, 400)
    result = await _run(request.app[_POOL_KEY], commands, transaction=True)
    if isinstance(result, redis_errors.ResponseError):
        return _answer({"error": str(result)}, 400)
    b64 = _wants_base64(request)
    return _answer([_item(reply, b64) for reply in result])


def _wants_base64(request: web.Request) -> bool:
    return request.headers.get("Upstash-Encoding", "").lower() == "base64"


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequestError as exc:
        return _answer({"error": str(exc)}, 400)
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        return _answer({"error": f"ERR Redis is unreachable: {exc}"}, 503)


def make_app(redis_url: str, token: str, pool_size: int = POOL_SIZE) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_errors])
    app[_TOKEN_KEY] = token
    app[_POOL_KEY] = BlockingConnectionPool.from_url(
        redis_url,
        max_connections=pool_size,
        timeout=10,
        protocol=2,  # RESP2 replies are what Upstash returns over REST
        parser_class=_FullErrorParser,
        socket_connect_timeout=2,
        socket_timeout=30,
    )

    async def close_pool(app: web.Application) -> None:
        await app[_POOL_KEY].aclose()

    app.on_cleanup.append(close_pool)
    app.router.add_post("/", single)
    app.router.add_post("/pipeline", pipeline)
    app.router.add_post("/multi-exec", multi_exec)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args(argv)
    token = os.environ.get("UPSTASH_REDIS_REST_TOKEN", "")
    if not token:
        parser.error("UPSTASH_REDIS_REST_TOKEN must hold the token clients will send")
    app = make_app(args.redis_url, token)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
