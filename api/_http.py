"""Flask glue shared by every function in api/ (private: Vercel serves no `_` files).

Each function file builds its app with `create_app()` and wraps each view in `endpoint`,
which turns the lib/ operation's Outcome into JSON and makes sure that no input, however
hostile, and no failure of Redis or MongoDB ever reaches the client as a 500 page or a
stack trace: HTTP-level refusals (404, 405, 413) get DESIGN §2's error body too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import wraps
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from lib import accounts
from lib.admission import rate_limited
from lib.backends import Backends, UnavailableError, backends, reaching
from lib.config import ConfigError
from lib.errors import ErrorCode
from lib.idempotency import valid_key
from lib.order_requests import ApiError
from lib.outcome import Outcome

MAX_BODY_BYTES = 16 * 1024

log = logging.getLogger("sbs.api")

_HTTP_CODES = {
    400: ErrorCode.INVALID_JSON,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.BODY_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def create_app(name: str) -> Flask:
    app = Flask(name)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.code or 500, ErrorCode.INTERNAL_ERROR)
        response = respond(Outcome.of(code))
        allow = dict(exc.get_headers()).get("Allow")  # a 405 says what is allowed
        if allow is not None:
            response.headers["Allow"] = allow
        return response

    @app.after_request
    def plain_options(response: Response) -> Response:
        # Flask answers OPTIONS itself with an empty text/html page; keep its Allow header,
        # say it as 204 so that no client expects a body.
        if request.method == "OPTIONS" and response.status_code == 200:
            response.status_code = 204
            response.set_data(b"")
            response.mimetype = "application/json"
        return response

    return app


def respond(outcome: Outcome) -> Response:
    body = json.dumps(outcome.body, separators=(",", ":"))
    return Response(body, outcome.status, outcome.headers, mimetype="application/json")


def endpoint(view: Callable[..., Outcome]) -> Callable[..., Response]:
    """Run `view`; unreachable stores are a 503, anything unexpected a logged 500 that
    says nothing more."""

    @wraps(view)
    def run(*args: Any, **kwargs: Any) -> Response:
        try:
            return respond(view(*args, **kwargs))
        except HTTPException:
            raise  # 413 from reading the body: the app's handler answers it
        except (UnavailableError, ConfigError) as exc:
            log.warning("%s %s: %s", request.method, request.path[:100], exc)
            return respond(Outcome.of(ErrorCode.SERVICE_UNAVAILABLE))
        except Exception:
            log.exception("%s %s failed", request.method, request.path[:100])
            return respond(Outcome.of(ErrorCode.INTERNAL_ERROR))

    return run


@dataclass(frozen=True)
class Caller:
    b: Backends
    account: str
    idempotency_key: str | None
    rate_key_id: str | None = None  # set when the operation still has to take the token


def caller(rate_limited_later: bool = False) -> Caller | Outcome:
    """The authenticated, rate-limited caller of an order endpoint, with its
    Idempotency-Key if it sent a valid one; else the 400 / 401 / 429 to answer.
    `rate_limited_later`: the operation takes the rate-limit token itself
    (`Caller.rate_key_id`), as a place does in its enqueue's request."""
    b = backends()
    who = authenticate(b, rate_limited_later)
    if isinstance(who, Outcome):
        return who
    account, key_id = who
    found = Caller(b, account, None, key_id if rate_limited_later else None)
    key = idempotency_key()
    if isinstance(key, Outcome):
        return refused_with_token(found, key)
    return replace(found, idempotency_key=key)


def refused_with_token(who: Caller, refusal: Outcome) -> Outcome:
    """`refusal`, or 429 if the caller's token (still to be taken) is not there."""
    if who.rate_key_id is None:
        return refusal
    return rate_limited(who.b, who.rate_key_id) or refusal


def query_args() -> dict[str, str] | Outcome:
    """The query string; a parameter given twice is refused (which one counts is a guess)."""
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            return Outcome.of(ErrorCode.INVALID_FIELD, name, "a query parameter appears twice")
    return request.args.to_dict(flat=True)


def authenticate(b: Backends, rate_limited_later: bool = False) -> tuple[str, str] | Outcome:
    """The caller's account and key id, or the 401 / 429 to answer (the rate limit taken
    here unless `rate_limited_later`). The key is never logged."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    account = None
    if scheme.lower() == "bearer" and presented:
        with reaching("mongodb"):
            account = accounts.authenticate(b.db, presented)
    if account is None:
        challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
        return Outcome.error(ApiError.of(ErrorCode.UNAUTHORIZED), headers=challenge)
    key_id = accounts.key_id_of(presented)
    assert key_id is not None  # authenticate() accepted its format
    if not rate_limited_later:
        refused = rate_limited(b, key_id)
        if refused is not None:
            return refused
    return account, key_id


def idempotency_key() -> str | Outcome | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if not valid_key(value):
        return Outcome.of(
            ErrorCode.INVALID_FIELD,
            "Idempotency-Key",
            "Idempotency-Key must be 1-64 printable ASCII characters without spaces",
        )
    return value


def json_body(required: bool = True) -> object | Outcome:
    """The decoded JSON body. Numbers with a fraction decode to Decimal (no digit of a price
    is lost to a float); NaN, Infinity and repeated field names are refused. Without
    `required`, an empty body is None."""
    data = request.get_data(cache=True)  # over MAX_BODY_BYTES: werkzeug raises 413
    if not data and not required:
        return None
    if request.mimetype != "application/json":
        return Outcome.of(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    try:
        decoded: object = json.loads(
            data,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_fields,
        )
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, _DuplicateFieldError) else None
        return Outcome.of(ErrorCode.INVALID_JSON, None, detail)
    return decoded


class _DuplicateFieldError(ValueError):
    pass


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            raise _DuplicateFieldError(f"field {name[:40]!r} appears twice")
        fields[name] = value
    return fields


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
