"""The API's write path (DESIGN §2, §4): validate, claim the Idempotency-Key, reserve the
client_order_id, enqueue the command, poll for the matcher's reply, answer.

Every function returns an Outcome and raises nothing but lib.backends.UnavailableError
(Redis or MongoDB unreachable: 503). The order of steps is what keeps a request from ever
being half-applied: nothing is written before the request is fully validated, and the only
write with an effect is the enqueue, which the matcher applies once per command_id however
often it arrives.
"""

from __future__ import annotations

import json
import time
from typing import Any

from lib import client_order_ids, idempotency, keys, queue, ratelimit
from lib.admission import rate_limited, rate_refusal
from lib.backends import Backends, Doc, reaching
from lib.commands import CancelCommand, ModifyCommand, PlaceCommand, QueuedCommand, checked
from lib.errors import ErrorCode
from lib.ids import new_command_id, new_order_id
from lib.order_requests import (
    ApiError,
    ModifyOrder,
    PlaceOrder,
    parse_modify,
    parse_order_id,
    parse_place,
    to_command,
)
from lib.orders import ALIVE_STATUSES, pending_order, public
from lib.outcome import Outcome

# A pending placeholder outlives the dedupe window, after which the command can no longer
# be applied: if the matcher never wrote the order by then, it never will.
PENDING_TTL_S = 2 * keys.REPLY_TTL_SECONDS


def place(
    b: Backends,
    account: str,
    body: object,
    idempotency_key: str | None,
    rate_key_id: str | None = None,
) -> Outcome:
    """`rate_key_id`: the caller's API key when its rate limit is still to be taken (the
    api/ glue leaves it to this function for places): a plain place takes its token in
    the enqueue's own request (queue.enqueue_place), any other first, as every endpoint
    does, so that every request costs exactly one token."""
    request = parse_place(body, b.settings.symbols)
    admission = None
    if rate_key_id is not None:
        plain = (
            isinstance(request, PlaceOrder)
            and idempotency_key is None
            and request.client_order_id is None
        )
        if plain:
            settings = b.settings
            admission = queue.Admission(rate_key_id, settings.rate_per_s, settings.rate_burst)
        elif (refused := rate_limited(b, rate_key_id)) is not None:
            return refused
    if isinstance(request, ApiError):
        return Outcome.error(request)
    command = _stamped(request, account, None)
    request_fingerprint = idempotency.fingerprint("place", None, request.model_dump())
    return _submit(b, account, command, idempotency_key, request_fingerprint, None, admission)


def modify(
    b: Backends,
    account: str,
    order_id: str | None,
    body: object,
    idempotency_key: str | None,
) -> Outcome:
    """`order_id` from the path; None on the compatibility route, whose body names it."""
    if order_id is None:
        named = body.get("order_id") if isinstance(body, dict) else None
        if named is None:
            return Outcome.of(ErrorCode.MISSING_FIELD, "order_id", "order_id is required")
        checked = parse_order_id(named)
        if isinstance(checked, ApiError):
            return Outcome.error(checked)
        order_id = checked
        compat = True
    else:
        compat = False
    order = find_order(b, account, order_id)
    if order is None:
        return Outcome.of(ErrorCode.UNKNOWN_ORDER, "order_id")
    spec = b.settings.symbol_spec(order["symbol"])
    if spec is None:  # a symbol removed from SBS_SYMBOLS while it still had live orders
        return Outcome.of(ErrorCode.UNKNOWN_SYMBOL, "symbol")
    request = parse_modify(body, spec, allow_order_id=compat)
    if isinstance(request, ApiError):
        return Outcome.error(request)
    command = _stamped(request, account, order_id)
    changes = {"price": request.price, "quantity": request.quantity}
    request_fingerprint = idempotency.fingerprint("modify", order_id, changes)
    return _submit(b, account, command, idempotency_key, request_fingerprint, _alive(order))


def cancel(b: Backends, account: str, order_id: str, idempotency_key: str | None) -> Outcome:
    order = find_order(b, account, order_id)
    if order is None:
        return Outcome.of(ErrorCode.UNKNOWN_ORDER, "order_id")
    now_ms = time.time_ns() // 1_000_000
    command = checked(
        CancelCommand(
            command_id=new_command_id(now_ms),
            account=account,
            order_id=order_id,
            symbol=order["symbol"],
            received_at=now_ms,
        )
    )
    request_fingerprint = idempotency.fingerprint("cancel", order_id, {})
    return _submit(b, account, command, idempotency_key, request_fingerprint, _alive(order))


def _stamped(
    request: PlaceOrder | ModifyOrder, account: str, order_id: str | None
) -> PlaceCommand | ModifyCommand:
    """The queue command for a validated request, with the ids and time the API assigns
    (`order_id` None: a new order's)."""
    now_ms = time.time_ns() // 1_000_000
    return to_command(
        request,
        command_id=new_command_id(now_ms),
        order_id=order_id or new_order_id(now_ms),
        account=account,
        received_at=now_ms,
    )


def find_order(b: Backends, account: str, order_id: str) -> Doc | None:
    """The account's order with `account` still in it, or None: missing and another
    account's look the same (DESIGN §2: never reveal that it exists). The order cache
    first (newest state, pending placeholders), then the projections."""
    with reaching("redis"):
        cached = queue.cached_order(b.redis, order_id)
    if cached is not None:
        return cached if cached.get("account") == account else None
    with reaching("mongodb"):
        for collection in (b.db.orders, b.db.open_orders):
            # By `_id` alone: the one filter the local FerretDB serves from an index.
            doc = collection.find_one({"_id": order_id})
            if doc is not None:
                return dict(doc) if doc.get("account") == account else None
    return None


def _alive(order: Doc) -> Outcome | None:
    """409 for an order that has ended, answered from what the API already read: the
    matcher would refuse the command the same way."""
    if order.get("status") in ALIVE_STATUSES:
        return None
    return Outcome.error(ApiError.of(ErrorCode.ORDER_NOT_LIVE), {"order": _shown(order)})


def _submit(
    b: Backends,
    account: str,
    command: QueuedCommand,
    idempotency_key: str | None,
    request_fingerprint: str,
    refusal: Outcome | None = None,
    admission: queue.Admission | None = None,
) -> Outcome:
    """`refusal`: what to answer instead of submitting, unless this request is a retry of
    one with the same Idempotency-Key - a retried cancel of an order that the first request
    cancelled must get the first request's answer, not a 409. `admission`: a place whose
    rate-limit token is taken in the enqueue's own request."""
    redis = b.redis
    with reaching("redis"):
        first = True
        if idempotency_key is not None:
            claim = idempotency.claim(redis, account, idempotency_key, request_fingerprint, command)
            if claim.conflict:
                return Outcome.of(ErrorCode.IDEMPOTENCY_KEY_REUSED, "Idempotency-Key")
            command, first = claim.command, claim.first
        if first and refusal is not None:
            return refusal
        reply = None if first else queue.get_reply(redis, command.command_id)
        if reply is None:
            placeholder = None
            if isinstance(command, PlaceCommand):
                refused = _reserve_client_order_id(redis, command)
                if refused is not None:
                    return refused
                placeholder = _pending(command)
            shards = b.settings.shards
            if placeholder is None:
                queue.enqueue(redis, command, shards)
            else:
                entered = queue.enqueue_place(redis, command, shards, placeholder, admission)
                if isinstance(entered, ratelimit.Decision):
                    return rate_refusal(entered)
            reply = queue.wait_reply(redis, command.command_id, b.settings.reply_timeout_ms)
    return _answer(command, reply)


def _reserve_client_order_id(redis: Any, command: PlaceCommand) -> Outcome | None:
    if command.client_order_id is None or client_order_ids.reserve(
        redis,
        command.account,
        command.client_order_id,
        command.order_id,
        time.time_ns() // 1_000_000,
    ):
        return None
    return Outcome.of(ErrorCode.DUPLICATE_CLIENT_ORDER_ID, "client_order_id")


def _pending(command: PlaceCommand) -> queue.Placeholder:
    now_ns = time.time_ns()
    doc = json.dumps(pending_order(command, now_ns), separators=(",", ":"))
    return queue.Placeholder(command.order_id, command.account, doc, PENDING_TTL_S, now_ns // 1000)


def _answer(command: QueuedCommand, reply: dict[str, Any] | None) -> Outcome:
    if reply is None:
        return Outcome.ok(202, order_id=command.order_id, status="pending")
    order = reply.get("order")
    if reply.get("success"):
        status = 201 if isinstance(command, PlaceCommand) else 200
        return Outcome.ok(status, order_id=command.order_id, order=_shown(order))
    error = reply.get("error") or {}
    try:
        code = ErrorCode(str(error.get("code")))
    except ValueError:
        code = ErrorCode.INTERNAL_ERROR
    refusal = ApiError.of(code, None, error.get("message"))
    return Outcome.error(refusal, {"order_id": command.order_id, "order": _shown(order)})


def _shown(order: Doc | None) -> Doc | None:
    return None if order is None else public(order)
