"""The shard's state: the engine plus what the service remembers around it, and how one
batch of queued commands is applied to it: pure computation, no I/O.

Everything the batch changes comes back as a `BatchResult` (journal content, projection
documents, replies, depth snapshots); the caller persists it. One timestamp per batch,
taken by the caller and stored in the journal, so a replay yields identical events.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import orjson

from lib.commands import (
    CancelCommand,
    InvalidCommandError,
    ModifyCommand,
    PlaceCommand,
    QueuedCommand,
    parse_command,
)
from lib.config import SymbolSpec
from lib.errors import ErrorCode, message
from lib.orders import iso_ms
from lib.prices import PriceError, to_ticks
from matcher.core import (
    CancelOrder,
    Command,
    MatchingEngine,
    ModifyOrder,
    OrderAccepted,
    OrderRejected,
    OrderStatus,
    OrderType,
    OrderUpdated,
    PlaceOrder,
    Side,
    TimeInForce,
    TradeExecuted,
)
from matcher.service.batch import BatchResult, Entry
from matcher.service.documents import OrderView, price_number, public_order, trade_doc
from matcher.service.memory import DedupeMemory, Remembered

log = logging.getLogger("matcher")
DEPTH_LEVELS = 50  # what the cache keeps: the API's /book serves up to 50 levels
# Members by value: a dict look-up costs a fraction of calling the enum.
_ORDER_TYPES = {member.value: member for member in OrderType}
_TIME_IN_FORCE = {member.value: member for member in TimeInForce}


class ShardState:
    """The engine plus what the service remembers around it (views, dedupe memory)."""

    def __init__(
        self,
        shard: int,
        specs: dict[str, SymbolSpec],
        engine: MatchingEngine,
        memory: DedupeMemory | None = None,
    ) -> None:
        self.shard = shard
        self.specs = specs
        self.engine = engine
        self.views: dict[str, OrderView] = {}  # live orders (plus this batch's touched)
        self.memory = memory if memory is not None else DedupeMemory()

    def apply(
        self, entries: list[Entry], timestamp: int, refuse: frozenset[str] = frozenset()
    ) -> BatchResult:
        """Apply `entries` in order; those whose stream id is in `refuse` are refused as
        too large to commit (they were found so when applied alone, see ShardService)."""
        result = BatchResult(entries, timestamp)
        touched: dict[str, OrderView] = {}
        symbols: set[str] = set()
        for entry in entries:
            too_large = entry.stream_id in refuse
            reply = self._apply_one(entry.raw, timestamp, result, touched, symbols, too_large)
            command_id = reply.get("command_id")
            if isinstance(command_id, str):
                result.replies[command_id] = reply
            else:
                log.warning("stream entry %s is not a command: %s", entry.stream_id, reply["error"])
        for order_id, view in touched.items():
            spec = self.specs.get(view.symbol)
            if spec is not None:  # a place for another shard's symbol has no document
                result.orders[order_id] = view.doc(spec)
            if not view.alive:
                self.views.pop(order_id, None)
        for symbol in sorted(symbols):
            result.depth[symbol] = self.depth_snapshot(symbol, timestamp)
        result.sequence = self.engine.sequence
        result.dedupe_floor, result.received_newest = self.memory.floor, self.memory.newest
        return result

    def depth_snapshot(self, symbol: str, timestamp: int) -> dict[str, Any]:
        spec = self.specs[symbol]
        bids, asks = self.engine.book(symbol).depth(DEPTH_LEVELS)
        return {
            "symbol": symbol,
            "bids": [{"price": price_number(p, spec), "quantity": q} for p, q in bids],
            "asks": [{"price": price_number(p, spec), "quantity": q} for p, q in asks],
            "timestamp": iso_ms(timestamp),
            "sequence": self.engine.sequence,
        }

    # ------------------------------------------------------------------ one command

    def _apply_one(
        self,
        raw: str,
        ts: int,
        result: BatchResult,
        touched: dict[str, OrderView],
        symbols: set[str],
        too_large: bool,
    ) -> dict[str, Any]:
        try:
            cmd = parse_command(raw)
        except InvalidCommandError as exc:
            return _invalid_command(raw, exc)
        memory = self.memory
        first = memory.encoded_reply(cmd.command_id)
        if first is not None:
            result.duplicates += 1
            result.encoded_replies[cmd.command_id] = first
            # A retried command gets the first result, never a second effect.
            return cast(dict[str, Any], orjson.loads(first))
        if memory.is_stale(cmd.received_at):
            return _rejected(cmd, ErrorCode.STALE_COMMAND)
        created = len(result.new_orders)
        reply = self._execute(cmd, ts, result, touched, symbols, too_large)
        order_id = cmd.order_id if len(result.new_orders) > created else None
        remembered = Remembered(cmd.command_id, cmd.received_at, order_id)
        result.encoded_replies[cmd.command_id] = memory.remember(remembered, reply, ts // 1_000_000)
        result.remembered.append(remembered)
        return reply

    def _execute(
        self,
        cmd: QueuedCommand,
        ts: int,
        result: BatchResult,
        touched: dict[str, OrderView],
        symbols: set[str],
        too_large: bool,
    ) -> dict[str, Any]:
        if type(cmd) is PlaceCommand and (
            cmd.order_id in self.views or self.memory.knows_order(cmd.order_id)
        ):
            return _rejected(cmd, ErrorCode.DUPLICATE_ORDER_ID)
        if too_large:
            return self._refuse(cmd, ErrorCode.TOO_LARGE, None, ts, result, touched)
        core, error = self._convert(cmd)
        if core is None:
            assert error is not None
            return self._refuse(cmd, error.code, str(error), ts, result, touched)
        events = self.engine.execute(core, ts)
        result.applied += 1
        rejection: OrderRejected | None = None
        for event in events:
            kind = type(event)
            if kind is OrderUpdated:
                assert isinstance(event, OrderUpdated)
                view = self.views[event.order_id]
                view.status = event.status
                view.price = event.price
                view.quantity = event.quantity
                view.traded = event.traded_quantity
                view.remaining = event.remaining_quantity
                view.cancelled = event.cancelled_quantity
                view.notional = event.traded_notional
                view.cancel_reason = event.cancel_reason
                view.updated_ns = event.timestamp
                touched[event.order_id] = view
            elif kind is TradeExecuted:
                assert isinstance(event, TradeExecuted)
                result.trades.append(trade_doc(event, self.specs[event.symbol]))
                symbols.add(event.symbol)
            elif kind is OrderAccepted:
                assert isinstance(event, OrderAccepted)
                self.views[event.order_id] = _accepted_view(event)
                result.new_orders.add(event.order_id)
            elif kind is OrderRejected:
                assert isinstance(event, OrderRejected)
                rejection = event
        if rejection is not None:
            # RejectReason spells a subset of ErrorCode (tests/lib/test_errors.py).
            code = ErrorCode(rejection.reason.value)
            return self._refuse(cmd, code, None, ts, result, touched)
        view = self.views[cmd.order_id]
        live = self.engine.order(cmd.order_id)
        if live is not None:
            view.priority = live.priority
        symbols.add(view.symbol)
        return {
            "command_id": cmd.command_id,
            "type": cmd.type,
            "order_id": cmd.order_id,
            "success": True,
            "order": public_order(view.doc(self.specs[view.symbol])),
        }

    def _convert(self, cmd: QueuedCommand) -> tuple[Command | None, PriceError | None]:
        """The core command, or the price error that refuses it (never an exception)."""
        if type(cmd) is CancelCommand:
            return CancelOrder(cmd.order_id, cmd.account), None
        if type(cmd) is ModifyCommand:
            view = self.views.get(cmd.order_id)
            if view is None or not view.alive or view.account != cmd.account or cmd.price is None:
                # Unknown, ended or another account's: the engine refuses it by its own
                # rules (unknown_order, order_not_live), which must win over a price error
                # - a price error would tell another account that the order exists.
                return ModifyOrder(cmd.order_id, cmd.account, None, cmd.quantity), None
            try:
                new_price = to_ticks(cmd.price, self.specs[view.symbol])
            except PriceError as exc:
                return None, _untraced(exc)
            return ModifyOrder(cmd.order_id, cmd.account, new_price, cmd.quantity), None
        cmd = cast(PlaceCommand, cmd)
        ticks: int | None = None
        price = cmd.price
        if price is not None:
            spec = self.specs.get(cmd.symbol)
            if spec is not None:
                try:
                    ticks = to_ticks(price, spec)
                except PriceError as exc:
                    return None, _untraced(exc)
        return (
            PlaceOrder(
                cmd.order_id,
                cmd.account,
                cmd.symbol,
                Side.BUY if cmd.side == "buy" else Side.SELL,
                cmd.quantity,
                ticks,
                _ORDER_TYPES[cmd.order_type],
                _TIME_IN_FORCE[cmd.time_in_force],
                cmd.post_only,
                cmd.client_order_id,
            ),
            None,
        )

    def _refuse(
        self,
        cmd: QueuedCommand,
        code: ErrorCode,
        detail: str | None,
        ts: int,
        result: BatchResult,
        touched: dict[str, OrderView],
    ) -> dict[str, Any]:
        """The reply to a refused command. A refused place still becomes an order, in
        status `rejected`, so that the client can look it up (except a duplicate id: that
        order is somebody else's)."""
        if not isinstance(cmd, PlaceCommand) or code is ErrorCode.DUPLICATE_ORDER_ID:
            return _rejected(cmd, code, detail)
        view = self._rejected_view(cmd, ts)
        touched[cmd.order_id] = view
        result.new_orders.add(cmd.order_id)
        spec = self.specs.get(cmd.symbol)
        return _rejected(cmd, code, detail, None if spec is None else public_order(view.doc(spec)))

    def _rejected_view(self, cmd: PlaceCommand, ts: int) -> OrderView:
        spec = self.specs.get(cmd.symbol)
        ticks: int | None = None
        if spec is not None and cmd.price is not None:
            try:
                ticks = to_ticks(cmd.price, spec)
            except PriceError:
                ticks = None
        return OrderView(
            order_id=cmd.order_id,
            account=cmd.account,
            symbol=cmd.symbol,
            side=Side.BUY if cmd.side == "buy" else Side.SELL,
            order_type=_ORDER_TYPES[cmd.order_type],
            time_in_force=_TIME_IN_FORCE[cmd.time_in_force],
            post_only=cmd.post_only,
            client_order_id=cmd.client_order_id,
            created_ns=ts,
            price=ticks,
            quantity=cmd.quantity,
            remaining=0,
            status=OrderStatus.REJECTED,
            updated_ns=ts,
        )


def _accepted_view(event: OrderAccepted) -> OrderView:
    return OrderView(
        order_id=event.order_id,
        account=event.account,
        symbol=event.symbol,
        side=event.side,
        order_type=event.order_type,
        time_in_force=event.time_in_force,
        post_only=event.post_only,
        client_order_id=event.client_order_id,
        created_ns=event.timestamp,
        price=event.price,
        quantity=event.quantity,
        remaining=event.quantity,
        updated_ns=event.timestamp,
    )


def _untraced(error: PriceError) -> PriceError:
    """The error without its traceback: kept in the caller's frame, a traceback makes a
    reference cycle (error -> traceback -> frame -> caller's frame -> error) that only the
    cycle collector frees; each refused price left about ten objects for it."""
    return error.with_traceback(None)


def _rejected(
    cmd: QueuedCommand,
    code: ErrorCode,
    detail: str | None = None,
    order: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`detail`: a message more precise than the code's own (a price error's)."""
    return {
        "command_id": cmd.command_id,
        "type": cmd.type,
        "order_id": cmd.order_id,
        "success": False,
        "error": {"code": code.value, "message": detail or message(code)},
        "order": order,
    }


def _invalid_command(raw: str, exc: InvalidCommandError) -> dict[str, Any]:
    """A malformed queue entry: answered if it names a command_id, otherwise only logged."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    command_id = data.get("command_id") if isinstance(data, dict) else None
    return {
        "command_id": command_id if isinstance(command_id, str) and len(command_id) <= 64 else None,
        "success": False,
        "error": {
            "code": ErrorCode.INVALID_COMMAND.value,
            "message": str(exc),
        },
        "order": None,
    }
