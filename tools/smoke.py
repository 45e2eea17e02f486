"""Smoke test of a deployment: `python -m tools.smoke BASE_URL --key KEY [--key2 KEY2]`.

Exercises BASE_URL (e.g. https://sbs.example.vercel.app) the way README's curl session
does, through the public API only: health and config; the key is accepted and a request
without one is refused; a bad request gets a 400 with its documented code; a resting
order with a client_order_id is placed, and a retry with its Idempotency-Key returns the
same order; a crossing order makes a trade, seen in GET /api/orders/<id>, GET /api/trades
and, live, on Socket.IO (the `realtime_url` of /api/config); the order shows in the
caller's list; another account's order is a 404; the resting order is modified,
cancelled, and a second cancel is refused with 409.

One account never trades with itself (self-trade prevention cancels the resting order),
so the fill needs a second account's key (`--key2`); with one key the crossing step
checks self-trade prevention instead, and the steps that need a trade are skipped.

It trades for real on the symbol it is given (`--symbol`, default: the default symbol
of /api/config), at a price strictly inside the current spread so that its orders can
only meet each other. Use a symbol kept for this (e.g. `SMOKE` in SBS_SYMBOLS) on a system
with real users. Any order it leaves resting is cancelled before it exits, also after a
failure.

Output: one line per step, `✓` passed, `✗` failed (the run stops there), `-` skipped,
with the time it took. Exit status: 0 every step passed, 1 a step failed, 2 usage.
Needs httpx; the Socket.IO steps need python-socketio with aiohttp (requirements-matcher.txt),
or `--no-realtime`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

PASS, FAIL, SKIP = "✓", "✗", "-"  # the marks a person scans for
MAKER_QUANTITY = 100
TAKER_QUANTITY = 40
MODIFIED_QUANTITY = 90  # the new total: 40 traded, 50 left
POLL_S = 0.2

Doc = dict[str, Any]


class StepFailedError(Exception):
    """A step's check failed; the message says what was expected and what came."""


class AbortError(Exception):
    """A step failed: stop running steps (the cleanup still runs)."""


def _socketio() -> Any | None:
    """python-socketio, if installed (only the real-time steps need it)."""
    try:
        return importlib.import_module("socketio")
    except ImportError:
        return None


def _money(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise StepFailedError(f"{value!r} is not a number") from None


def _text(price: Decimal) -> str:
    return format(price.normalize(), "f")


def _summary(response: httpx.Response) -> str:
    """What a refusal said: its error code and message, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        snippet = " ".join(response.text.split())[:100]
        return f"HTTP {response.status_code}, not JSON: {snippet!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}"
    return f"HTTP {response.status_code}: {str(body)[:160]}"


def _json(response: httpx.Response, *statuses: int) -> Doc:
    if response.status_code not in statuses:
        wanted = " or ".join(str(s) for s in statuses)
        raise StepFailedError(f"expected HTTP {wanted}, got {_summary(response)}")
    try:
        body = response.json()
    except ValueError:
        raise StepFailedError(f"expected JSON, got {_summary(response)}") from None
    if not isinstance(body, dict):
        raise StepFailedError(f"expected a JSON object, got {str(body)[:100]}")
    return body


def _refused(response: httpx.Response, status: int, code: str) -> str:
    """Check a documented refusal: the status and the error code."""
    if response.status_code != status:
        raise StepFailedError(f"expected HTTP {status} {code}, got {_summary(response)}")
    body = _json(response, status)
    error = body.get("error")
    if body.get("success") is not False or not isinstance(error, dict):
        raise StepFailedError(f"not an error body: {str(body)[:160]}")
    if error.get("code") != code:
        raise StepFailedError(f"expected code {code}, got {error.get('code')}")
    return f"{status} {code}"


def _check(order: Doc, **expected: object) -> None:
    for name, value in expected.items():
        got = order.get(name)
        same = (
            _money(got) == value if isinstance(value, Decimal) and got is not None else got == value
        )
        if not same:
            raise StepFailedError(
                f"order {order.get('order_id')}: {name} is {got!r}, expected {value!r}"
            )


@dataclass
class Smoke:
    base_url: str
    key: str
    key2: str | None
    symbol: str | None
    realtime_url: str | None
    realtime: bool
    timeout: float
    headers: dict[str, str]
    http: httpx.AsyncClient = field(init=False)
    failed: bool = False
    # Orders this run placed that may still rest: order id -> the key that owns it.
    resting: dict[str, str] = field(default_factory=dict)
    tick: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    price: Decimal = Decimal(0)  # where the smoke orders cross
    maker_id: str = ""
    taker_id: str = ""
    resting_id: str = ""  # the order left resting after the cross
    resting_side: str = ""
    idempotency_key: str = ""  # the maker's, sent again by the retry step
    client_order_id: str = ""  # the maker's (reserved by a script: Upstash runs it too)
    trade: Doc = field(default_factory=dict)
    sio: Any = None
    heard: list[Doc] = field(default_factory=list)
    heard_event: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------ plumbing

    async def request(
        self,
        method: str,
        path: str,
        key: str | None = None,
        json: object = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = {**self.headers, **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        return await self.http.request(method, path, json=json, params=params, headers=sent)

    async def step(self, name: str, action: Callable[[], Awaitable[str]]) -> None:
        started = time.perf_counter()
        mark = PASS
        try:
            detail = await action()
        except StepFailedError as exc:
            mark, detail = FAIL, str(exc)
        except httpx.HTTPError as exc:
            mark, detail = FAIL, f"{type(exc).__name__}: {exc or 'no answer'} ({self.base_url})"
        except Exception as exc:  # a Socket.IO failure, a malformed answer: report it
            mark, detail = FAIL, f"{type(exc).__name__}: {exc}"
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(f"{mark} {name:<16} {elapsed_ms:7.0f} ms  {detail}", flush=True)
        if mark == FAIL:
            self.failed = True
            raise AbortError

    @staticmethod
    def skip(name: str, why: str) -> None:
        print(f"{SKIP} {name:<16} {'':>10}  skipped: {why}", flush=True)

    def ticks(self, price: Decimal) -> int:
        return int(price / self.tick)

    def at(self, ticks: int) -> Decimal:
        return self.tick * ticks

    async def order(self, key: str, order_id: str) -> Doc:
        response = await self.request("GET", f"/api/orders/{order_id}", key)
        order = _json(response, 200).get("order")
        if not isinstance(order, dict):
            raise StepFailedError(f"no order in {str(response.text)[:160]}")
        if not order.get("order_alive"):
            self.resting.pop(order_id, None)
        return order

    async def settled(self, key: str, order_id: str) -> Doc:
        """The order once the matcher has applied it (a 202 leaves it `pending`)."""
        deadline = time.monotonic() + self.timeout
        while True:
            order = await self.order(key, order_id)
            if order.get("status") != "pending":
                return order
            if time.monotonic() > deadline:
                raise StepFailedError(
                    f"order {order_id} still pending after {self.timeout:.0f} s: is the "
                    "matcher of its shard running? (its GET /health)"
                )
            await asyncio.sleep(POLL_S)

    async def changed(self, response: httpx.Response) -> Doc:
        """The resting order after a modify or cancel answered 200 (or 202, then applied)."""
        answer = _json(response, 200, 202)
        if response.status_code == 202:
            return await self.settled(self.key, self.resting_id)
        order = answer.get("order")
        if not isinstance(order, dict):
            raise StepFailedError(f"no order in {response.text[:160]}")
        return order

    async def place(self, key: str, body: Doc, idempotency_key: str | None = None) -> Doc:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = await self.request("POST", "/api/orders", key, json=body, headers=headers)
        answer = _json(response, 201, 202)
        order_id = answer.get("order_id")
        if not isinstance(order_id, str):
            raise StepFailedError(f"no order_id in {response.text[:160]}")
        self.resting[order_id] = key
        if response.status_code == 202:
            return await self.settled(key, order_id)
        order = answer.get("order")
        if not isinstance(order, dict):
            raise StepFailedError(f"no order in {response.text[:160]}")
        if not order.get("order_alive"):
            self.resting.pop(order_id, None)
        return order

    # ------------------------------------------------------------ the steps

    async def health(self) -> str:
        response = await self.request("GET", "/api/health")
        body = _json(response, 200)
        checks = body.get("checks") or {}
        if body.get("success") is not True:
            raise StepFailedError(f"unhealthy: {checks}")
        return ", ".join(f"{name} {state}" for name, state in checks.items())

    async def config(self) -> str:
        body = _json(await self.request("GET", "/api/config"), 200)
        symbols = {s.get("symbol"): s for s in body.get("symbols") or [] if isinstance(s, dict)}
        symbol = self.symbol or body.get("default_symbol")
        if symbol not in symbols:
            raise StepFailedError(f"symbol {symbol!r} is not configured (SBS_SYMBOLS)")
        self.symbol = str(symbol)
        self.tick = _money(symbols[symbol]["tick_size"])
        self.max_price = _money(symbols[symbol]["max_price"])
        advertised = body.get("realtime_url")
        if self.realtime_url is None:
            if not isinstance(advertised, str) or not advertised:
                raise StepFailedError("no realtime_url in /api/config")
            self.realtime_url = advertised
        return (
            f"symbol {self.symbol} (tick {_text(self.tick)}), "
            f"realtime_url {advertised}, {len(symbols)} symbols"
        )

    async def keys(self) -> str:
        keys = [self.key] + ([self.key2] if self.key2 else [])
        for number, key in enumerate(keys, 1):
            response = await self.request("GET", "/api/orders", key, params={"limit": "1"})
            if response.status_code == 401:
                which = "--key" if number == 1 else "--key2"
                raise StepFailedError(f"{which} refused: {_summary(response)}")
            _json(response, 200)
        if self.key2 and self.key2 == self.key:
            raise StepFailedError("--key2 must belong to another account than --key")
        return f"{len(keys)} key(s) accepted"

    async def no_key(self) -> str:
        response = await self.request("GET", "/api/orders")
        return _refused(response, 401, "unauthorized") + " without a key"

    async def book(self) -> str:
        """Choose the price: strictly inside the spread, so the smoke orders can only meet
        each other, with a tick to spare above (the modify moves a sell up a tick)."""
        params = {"symbol": str(self.symbol), "levels": "1"}
        body = _json(await self.request("GET", "/api/book", params=params), 200)
        bids, asks = body.get("bids") or [], body.get("asks") or []
        bid = self.ticks(_money(bids[0]["price"])) if bids else None
        ask = self.ticks(_money(asks[0]["price"])) if asks else None
        top = self.ticks(self.max_price)
        if bid is not None:
            price = bid + 1
        elif ask is not None:
            price = ask - 1
        else:
            price = min(max(self.ticks(Decimal(100)), 2), top - 1)
        if bid is not None and ask is not None and price >= ask:
            raise StepFailedError(
                f"no free price between best bid {bids[0]['price']} and best ask "
                f"{asks[0]['price']}: use a quiet symbol (--symbol)"
            )
        if not 2 <= price <= top - 1:
            raise StepFailedError(f"no room for a smoke price in the book {body}")
        self.price = self.at(price)
        shown = f"bid {bids[0]['price'] if bids else '-'} / ask {asks[0]['price'] if asks else '-'}"
        return f"{self.symbol} {shown}: crossing at {_text(self.price)}"

    async def bad_request(self) -> str:
        off_tick = self.price + self.tick / 2
        body = {"symbol": self.symbol, "side": "buy", "quantity": 1, "price": _text(off_tick)}
        response = await self.request("POST", "/api/orders", self.key, json=body)
        return _refused(response, 400, "price_off_tick") + f" for price {_text(off_tick)}"

    async def subscribe(self) -> str:
        module = _socketio()
        if module is None:
            raise StepFailedError(
                "python-socketio is not installed (pip install python-socketio aiohttp), "
                "or pass --no-realtime"
            )
        url = str(self.realtime_url)
        if url.startswith(("ws://", "wss://")):
            url = "http" + url.removeprefix("ws")
        self.sio = module.AsyncClient(reconnection=False)

        async def on_trade(data: Any) -> None:
            if isinstance(data, dict):
                self.heard.append(data)
                self.heard_event.set()

        self.sio.on("trade", on_trade)
        await self.sio.connect(url, transports=["websocket"], wait_timeout=self.timeout)
        request = {"channel": "trades", "symbol": self.symbol}
        ack = await self.sio.call("subscribe", request, timeout=self.timeout)
        if not isinstance(ack, dict) or ack.get("ok") is not True:
            raise StepFailedError(f"subscribe refused: {ack}")
        return f"connected to {url}, subscribed to trades:{self.symbol}"

    def maker_order(self) -> Doc:
        return {
            "symbol": self.symbol,
            "side": "sell",
            "quantity": MAKER_QUANTITY,
            "price": _text(self.price),
            "client_order_id": self.client_order_id,
        }

    async def place_maker(self) -> str:
        self.idempotency_key = f"smoke-{uuid.uuid4().hex}"
        self.client_order_id = f"smoke-{uuid.uuid4().hex[:16]}"
        order = await self.place(self.key, self.maker_order(), self.idempotency_key)
        self.maker_id = str(order["order_id"])
        _check(order, side="sell", status="open", remaining_quantity=MAKER_QUANTITY)
        _check(order, order_price=self.price, client_order_id=self.client_order_id)
        return f"sell {MAKER_QUANTITY} @ {_text(self.price)}: {self.maker_id} open"

    async def retry(self) -> str:
        order = await self.place(self.key, self.maker_order(), self.idempotency_key)
        if order.get("order_id") != self.maker_id:
            raise StepFailedError(
                f"a retry with the same Idempotency-Key made order {order.get('order_id')}, "
                f"not {self.maker_id}"
            )
        return f"same Idempotency-Key: the same order {self.maker_id}"

    async def cross(self) -> str:
        body = {
            "symbol": self.symbol,
            "side": "buy",
            "quantity": TAKER_QUANTITY,
            "price": _text(self.price),
        }
        if self.key2:
            order = await self.place(self.key2, body)
            self.taker_id = str(order["order_id"])
            _check(order, status="filled", traded_quantity=TAKER_QUANTITY)
            _check(order, average_traded_price=self.price)
            self.resting_id, self.resting_side = self.maker_id, "sell"
            return f"buy {TAKER_QUANTITY} @ {_text(self.price)} (--key2): {self.taker_id} filled"
        order = await self.place(self.key, body)
        self.taker_id = str(order["order_id"])
        _check(order, status="open", traded_quantity=0)
        self.resting_id, self.resting_side = self.taker_id, "buy"
        return (
            f"buy {TAKER_QUANTITY} @ {_text(self.price)} (same account): no trade, "
            f"{self.taker_id} rests"
        )

    async def fill(self) -> str:
        order = await self.order(self.key, self.maker_id)
        if self.key2:
            _check(order, status="partially_filled", traded_quantity=TAKER_QUANTITY)
            _check(order, remaining_quantity=MAKER_QUANTITY - TAKER_QUANTITY)
            _check(order, average_traded_price=self.price)
            left = MAKER_QUANTITY - TAKER_QUANTITY
            return f"{self.maker_id} partially_filled: {TAKER_QUANTITY} traded, {left} left"
        _check(order, status="cancelled", cancel_reason="self_trade", traded_quantity=0)
        return f"{self.maker_id} cancelled by self-trade prevention (pass --key2 for a fill)"

    async def trades(self) -> str:
        """The trade in GET /api/trades (read-your-writes: at once; a little patience for
        a deployment whose projections lag)."""
        params = {"symbol": str(self.symbol), "order_id": self.maker_id}
        deadline = time.monotonic() + self.timeout
        while True:
            body = _json(await self.request("GET", "/api/trades", params=params), 200)
            found = [t for t in body.get("data") or [] if t.get("bid_order_id") == self.taker_id]
            if found:
                break
            if time.monotonic() > deadline:
                raise StepFailedError(f"no trade of {self.taker_id} after {self.timeout:.0f} s")
            await asyncio.sleep(POLL_S)
        trade = found[0]
        expected = {"ask_order_id": self.maker_id, "qty": TAKER_QUANTITY, "symbol": self.symbol}
        for name, value in expected.items():
            if trade.get(name) != value:
                raise StepFailedError(f"trade {trade.get('unique_id')}: {name} {trade.get(name)}")
        if _money(trade.get("price")) != self.price:
            raise StepFailedError(f"trade at {trade.get('price')}, not the maker's price")
        self.trade = trade
        sequence = trade.get("sequence")
        return f"{trade['unique_id']}: {TAKER_QUANTITY} @ {trade['price']} (sequence {sequence})"

    async def trade_event(self) -> str:
        unique_id = self.trade["unique_id"]
        deadline = time.monotonic() + self.timeout
        while not any(t.get("unique_id") == unique_id for t in self.heard):
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepFailedError(f"no trade event {unique_id} within {self.timeout:.0f} s")
            self.heard_event.clear()
            try:
                await asyncio.wait_for(self.heard_event.wait(), timeout=left)
            except TimeoutError:
                continue
        event = next(t for t in self.heard if t.get("unique_id") == unique_id)
        if event != self.trade:
            raise StepFailedError(f"the event differs from GET /api/trades: {event}")
        return f"`trade` {unique_id} on trades:{self.symbol}, equal to the REST trade"

    async def listed(self) -> str:
        params = {"symbol": str(self.symbol), "limit": "10"}
        owner = self.key
        body = _json(await self.request("GET", "/api/orders", owner, params=params), 200)
        ids = [o.get("order_id") for o in body.get("data") or []]
        if self.resting_id not in ids:
            raise StepFailedError(f"{self.resting_id} not in the newest orders {ids}")
        return f"{self.resting_id} in GET /api/orders?symbol={self.symbol}"

    async def other_account(self) -> str:
        response = await self.request("GET", f"/api/orders/{self.maker_id}", self.key2)
        return _refused(response, 404, "unknown_order") + " for another account's order"

    async def modify(self) -> str:
        step = 1 if self.resting_side == "sell" else -1  # away from the spread: never crosses
        new_price = self.at(self.ticks(self.price) + step)
        traded = TAKER_QUANTITY if self.key2 else 0
        quantity = MODIFIED_QUANTITY if self.key2 else TAKER_QUANTITY - 10
        body: Doc = {"updated_quantity": quantity}
        if self.tick <= new_price <= self.max_price:
            body["updated_price"] = _text(new_price)
        else:
            new_price = self.price
        response = await self.request("PUT", f"/api/orders/{self.resting_id}", self.key, json=body)
        order = await self.changed(response)
        _check(order, order_alive=True, order_quantity=quantity)
        _check(order, remaining_quantity=quantity - traded, order_price=new_price)
        return f"{self.resting_id}: price {_text(new_price)}, quantity {quantity}"

    async def cancel(self) -> str:
        response = await self.request("DELETE", f"/api/orders/{self.resting_id}", self.key)
        order = await self.changed(response)
        _check(order, status="cancelled", cancel_reason="user", remaining_quantity=0)
        self.resting.pop(self.resting_id, None)
        return f"{self.resting_id} cancelled ({order.get('cancelled_quantity')} cancelled)"

    async def cancel_again(self) -> str:
        response = await self.request("DELETE", f"/api/orders/{self.resting_id}", self.key)
        return _refused(response, 409, "order_not_live") + " for an order already cancelled"

    async def cleanup(self) -> str:
        """Cancel whatever this run may have left resting."""
        cancelled, left = [], []
        for order_id, key in list(self.resting.items()):
            try:
                response = await self.request("DELETE", f"/api/orders/{order_id}", key)
            except httpx.HTTPError:
                left.append(order_id)
                continue
            if response.status_code in (200, 202):
                cancelled.append(order_id)
            elif response.status_code not in (404, 409):  # 409: it had ended already
                left.append(order_id)
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()
        if left:
            raise StepFailedError(f"could not cancel {', '.join(left)}: cancel them by hand")
        if cancelled:
            return f"cancelled {len(cancelled)} order(s) left resting: {', '.join(cancelled)}"
        return "nothing left resting"

    # ------------------------------------------------------------ the run

    async def run(self) -> int:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as http:
            self.http = http
            try:
                await self.steps()
            except AbortError:
                pass
            finally:
                with contextlib.suppress(AbortError):
                    await self.step("cleanup", self.cleanup)
        print(f"smoke test {'FAILED' if self.failed else 'passed'}: {self.base_url}", flush=True)
        return 1 if self.failed else 0

    async def steps(self) -> None:
        await self.step("health", self.health)
        await self.step("config", self.config)
        await self.step("api key", self.keys)
        await self.step("no key", self.no_key)
        await self.step("book", self.book)
        await self.step("bad request", self.bad_request)
        if self.realtime:
            await self.step("socket.io", self.subscribe)
        else:
            self.skip("socket.io", "--no-realtime")
        await self.step("place", self.place_maker)
        await self.step("retry", self.retry)
        await self.step("cross", self.cross)
        await self.step("fill", self.fill)
        if self.key2:
            await self.step("trades", self.trades)
            if self.realtime:
                await self.step("trade event", self.trade_event)
            else:
                self.skip("trade event", "--no-realtime")
        else:
            for name in ("trades", "trade event"):
                self.skip(name, "needs --key2: one account never trades with itself")
        await self.step("list", self.listed)
        if self.key2:
            await self.step("other account", self.other_account)
        else:
            self.skip("other account", "needs --key2")
        await self.step("modify", self.modify)
        await self.step("cancel", self.cancel)
        await self.step("cancel again", self.cancel_again)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:VALUE")
    return name.strip(), value.strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.smoke",
        description="Smoke-test a deployed StockBrokerageSystem through its public API.",
    )
    parser.add_argument("base_url", metavar="BASE_URL", help="e.g. https://sbs.vercel.app")
    parser.add_argument("--key", required=True, help="an API key (python -m lib.accounts)")
    parser.add_argument("--key2", help="a key of a second account: needed for a trade")
    parser.add_argument("--symbol", help="the symbol to trade (default: /api/config's default)")
    parser.add_argument(
        "--realtime-url", help="the Socket.IO server (default: /api/config's realtime_url)"
    )
    parser.add_argument("--no-realtime", action="store_true", help="skip the Socket.IO steps")
    parser.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="send this header with every request (e.g. x-vercel-protection-bypass:SECRET)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request and per wait (10)"
    )
    args = parser.parse_args(argv)
    if not args.base_url.startswith(("http://", "https://")):
        parser.error("BASE_URL must start with http:// or https://")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):  # a console that cannot print the marks
        sys.stdout.reconfigure(errors="replace")
    args = parse_args(argv)
    smoke = Smoke(
        base_url=args.base_url.rstrip("/"),
        key=args.key,
        key2=args.key2,
        symbol=args.symbol,
        realtime_url=args.realtime_url,
        realtime=not args.no_realtime,
        timeout=args.timeout,
        headers=dict(args.header),
    )
    return asyncio.run(smoke.run())


if __name__ == "__main__":
    raise SystemExit(main())
