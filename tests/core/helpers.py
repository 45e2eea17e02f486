"""Shared helpers of the matching-core tests.

- command builders (`buy`, `sell`, `market_buy`, `cancel`, `modify`, ...) with accounts
  that never self-trade by accident (every buy is `BUYER`'s, every sell `SELLER`'s,
  unless a test says otherwise);
- `Driver`: an engine plus a clock that checks, after every command, the documented
  event grammar (docs/MATCHING.md "Events, in order") independently of any expectation
  the test itself writes down;
- `Step` / `run_steps`: the table-driven conformance format, which checks the trades,
  the rejection (if any), the best bid / best ask and the full depth after every step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from matcher.core import (
    CancelOrder,
    CancelReason,
    Command,
    Event,
    Instrument,
    MatchingEngine,
    ModifyOrder,
    OrderAccepted,
    OrderModified,
    OrderRejected,
    OrderStatus,
    OrderType,
    OrderUpdated,
    PlaceOrder,
    RejectReason,
    RestingOrder,
    Side,
    TimeInForce,
    TradeExecuted,
)

SYMBOL = "ACME"
OTHER_SYMBOL = "BOLT"
MAX_PRICE = 10_000  # ticks
MAX_QUANTITY = 1_000_000
BUYER = "buyer"
SELLER = "seller"
TRADE_ID_PREFIX = "T-"
ALL_LEVELS = 1_000_000

# Stands for "the account that placed this order id": the Driver resolves it.
OWNER = "<owner>"

TradeTuple = tuple[int, int, str, str]  # (price, quantity, buy_order_id, sell_order_id)
LevelTuple = tuple[int, int]  # (price, total quantity)


# ------------------------------------------------------------------ engines


def instrument(symbol: str = SYMBOL, max_price: int = MAX_PRICE) -> Instrument:
    return Instrument(symbol, max_price, MAX_QUANTITY)


def new_engine(
    symbols: Sequence[str] = (SYMBOL,),
    ended_memory: int = 100_000,
    max_price: int = MAX_PRICE,
) -> MatchingEngine:
    return MatchingEngine(
        [instrument(s, max_price) for s in symbols],
        trade_id_prefix=TRADE_ID_PREFIX,
        ended_memory=ended_memory,
    )


# ----------------------------------------------------------------- commands


def limit(
    order_id: str,
    side: Side,
    quantity: int,
    price: int | None,
    account: str | None = None,
    *,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    symbol: str = SYMBOL,
) -> PlaceOrder:
    if account is None:
        account = BUYER if side is Side.BUY else SELLER
    return PlaceOrder(
        order_id, account, symbol, side, quantity, price, OrderType.LIMIT, tif, post_only
    )


def buy(
    order_id: str,
    quantity: int,
    price: int,
    account: str = BUYER,
    *,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    symbol: str = SYMBOL,
) -> PlaceOrder:
    return limit(
        order_id, Side.BUY, quantity, price, account, tif=tif, post_only=post_only, symbol=symbol
    )


def sell(
    order_id: str,
    quantity: int,
    price: int,
    account: str = SELLER,
    *,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    symbol: str = SYMBOL,
) -> PlaceOrder:
    return limit(
        order_id, Side.SELL, quantity, price, account, tif=tif, post_only=post_only, symbol=symbol
    )


def ioc_buy(order_id: str, quantity: int, price: int, account: str = BUYER) -> PlaceOrder:
    return buy(order_id, quantity, price, account, tif=TimeInForce.IOC)


def ioc_sell(order_id: str, quantity: int, price: int, account: str = SELLER) -> PlaceOrder:
    return sell(order_id, quantity, price, account, tif=TimeInForce.IOC)


def fok_buy(order_id: str, quantity: int, price: int, account: str = BUYER) -> PlaceOrder:
    return buy(order_id, quantity, price, account, tif=TimeInForce.FOK)


def fok_sell(order_id: str, quantity: int, price: int, account: str = SELLER) -> PlaceOrder:
    return sell(order_id, quantity, price, account, tif=TimeInForce.FOK)


def market(
    order_id: str,
    side: Side,
    quantity: int,
    account: str | None = None,
    *,
    price: int | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    symbol: str = SYMBOL,
) -> PlaceOrder:
    if account is None:
        account = BUYER if side is Side.BUY else SELLER
    return PlaceOrder(
        order_id, account, symbol, side, quantity, price, OrderType.MARKET, tif, post_only
    )


def market_buy(order_id: str, quantity: int, account: str = BUYER) -> PlaceOrder:
    return market(order_id, Side.BUY, quantity, account)


def market_sell(order_id: str, quantity: int, account: str = SELLER) -> PlaceOrder:
    return market(order_id, Side.SELL, quantity, account)


def cancel(order_id: str, account: str = OWNER) -> CancelOrder:
    return CancelOrder(order_id, account)


def modify(
    order_id: str,
    *,
    price: int | None = None,
    quantity: int | None = None,
    account: str = OWNER,
) -> ModifyOrder:
    return ModifyOrder(order_id, account, price, quantity)


# ------------------------------------------------------------ event queries


def trades_of(events: Iterable[Event]) -> list[TradeExecuted]:
    return [e for e in events if isinstance(e, TradeExecuted)]


def trade_tuples(events: Iterable[Event]) -> list[TradeTuple]:
    return [(t.price, t.quantity, t.buy_order_id, t.sell_order_id) for t in trades_of(events)]


def updates_of(events: Iterable[Event], order_id: str) -> list[OrderUpdated]:
    return [e for e in events if isinstance(e, OrderUpdated) and e.order_id == order_id]


def last_update(events: Sequence[Event], order_id: str) -> OrderUpdated:
    found = updates_of(events, order_id)
    assert found, f"no OrderUpdated for {order_id!r} in {events!r}"
    return found[-1]


def rejection(events: Sequence[Event]) -> RejectReason | None:
    """The reject reason if the command was refused, else None (and no OrderRejected)."""
    rejected = [e for e in events if isinstance(e, OrderRejected)]
    if not rejected:
        return None
    assert len(events) == 1, f"a rejection must be the only event: {events!r}"
    return rejected[0].reason


def depth(
    engine: MatchingEngine, symbol: str = SYMBOL
) -> tuple[list[LevelTuple], list[LevelTuple]]:
    return engine.book(symbol).depth(ALL_LEVELS)


@dataclass(frozen=True, slots=True)
class EngineState:
    """Everything observable about an engine, to prove a command changed nothing."""

    open_orders: list[RestingOrder]
    depths: dict[str, tuple[list[LevelTuple], list[LevelTuple]]]
    sequence: int


def state_of(engine: MatchingEngine) -> EngineState:
    return EngineState(
        engine.open_orders(),
        {s: engine.book(s).depth(ALL_LEVELS) for s in engine.symbols},
        engine.sequence,
    )


# ---------------------------------------------------------- grammar checker


def _command_name(command: Command) -> str:
    if isinstance(command, PlaceOrder):
        return "place"
    return "modify" if isinstance(command, ModifyOrder) else "cancel"


def _check_conservation(update: OrderUpdated) -> None:
    assert update.traded_quantity >= 0
    assert update.remaining_quantity >= 0
    assert update.cancelled_quantity >= 0
    total = update.traded_quantity + update.remaining_quantity + update.cancelled_quantity
    assert total == update.quantity, f"traded + remaining + cancelled != quantity: {update!r}"
    alive = update.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
    assert alive == (update.remaining_quantity > 0), update
    if update.status is OrderStatus.CANCELLED:
        assert update.cancel_reason is not None, update
    else:
        assert update.cancel_reason is None, update


def check_events(
    command: Command,
    events: Sequence[Event],
    resting_before: dict[str, RestingOrder],
    sequence_before: int,
    timestamp: int,
) -> None:
    """Assert the documented shape of a command's events; independent of any test data.

    - a rejection is exactly one OrderRejected naming the command;
    - place: OrderAccepted, then per fill TradeExecuted + maker OrderUpdated (or a maker
      OrderUpdated cancelled for self_trade), then the order's own OrderUpdated;
    - modify: OrderModified, the same fills, then the order's OrderUpdated;
    - cancel: one OrderUpdated, cancelled for `user`;
    - every trade is at its maker's resting price, buy_order_id is the buy side, trade
      sequences increase past the engine's previous sequence, trade id = prefix + seq;
    - every OrderUpdated keeps traded + remaining + cancelled == quantity.
    """
    assert events, "every command yields at least one event"
    assert all(e.timestamp == timestamp for e in events), events
    first = events[0]
    if isinstance(first, OrderRejected):
        assert len(events) == 1, events
        assert first.order_id == command.order_id
        assert first.account == command.account
        assert first.command == _command_name(command)
        return
    assert not any(isinstance(e, OrderRejected) for e in events), events
    for event in events:
        if isinstance(event, OrderUpdated):
            _check_conservation(event)

    if isinstance(command, CancelOrder):
        assert len(events) == 1, events
        (update,) = events
        assert isinstance(update, OrderUpdated)
        before = resting_before[command.order_id]
        assert update.order_id == command.order_id
        assert update.status is OrderStatus.CANCELLED
        assert update.cancel_reason is CancelReason.USER
        assert update.traded_quantity == before.traded_quantity
        assert update.cancelled_quantity == before.remaining_quantity
        return

    if isinstance(command, PlaceOrder):
        assert isinstance(first, OrderAccepted), events
        assert first == OrderAccepted(
            command.order_id,
            command.account,
            command.symbol,
            command.side,
            command.order_type,
            command.time_in_force,
            command.price,
            command.quantity,
            command.post_only,
            command.client_order_id,
            timestamp,
        )
        taker_side, taker_account, symbol = command.side, command.account, command.symbol
        traded_before, notional_before = 0, 0
    else:
        assert isinstance(first, OrderModified), events
        assert first.order_id == command.order_id
        before = resting_before[command.order_id]
        taker_side, taker_account, symbol = before.side, before.account, before.symbol
        traded_before, notional_before = before.traded_quantity, before.traded_notional

    own = events[-1]
    assert isinstance(own, OrderUpdated) and own.order_id == command.order_id, events
    body = list(events[1:-1])
    last_sequence = sequence_before
    traded, notional = 0, 0
    i = 0
    while i < len(body):
        event = body[i]
        if isinstance(event, TradeExecuted):
            maker = resting_before.get(event.maker_order_id)
            assert maker is not None, f"maker {event.maker_order_id!r} was not resting"
            assert maker.side is not taker_side and maker.symbol == symbol
            assert maker.account != taker_account, "a trade between two orders of one account"
            assert event.taker_order_id == command.order_id
            assert event.price == maker.price, "a trade not at the maker's price"
            assert event.quantity > 0
            assert event.symbol == symbol
            assert event.aggressor_side is taker_side
            buy_id, sell_id = (
                (command.order_id, maker.order_id)
                if taker_side is Side.BUY
                else (maker.order_id, command.order_id)
            )
            assert (event.buy_order_id, event.sell_order_id) == (buy_id, sell_id)
            assert event.sequence > last_sequence, "trade sequences must increase"
            assert event.trade_id == TRADE_ID_PREFIX + str(event.sequence)
            last_sequence = event.sequence
            traded += event.quantity
            notional += event.quantity * event.price
            assert i + 1 < len(body), f"a trade without its maker's OrderUpdated: {events!r}"
            maker_update = body[i + 1]
            assert isinstance(maker_update, OrderUpdated), events
            assert maker_update.order_id == maker.order_id
            assert maker_update.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
            i += 2
        else:
            assert isinstance(event, OrderUpdated), f"unexpected event {event!r}"
            maker = resting_before.get(event.order_id)
            assert maker is not None, f"{event.order_id!r} was not resting"
            assert event.status is OrderStatus.CANCELLED
            assert event.cancel_reason is CancelReason.SELF_TRADE
            assert maker.account == taker_account and maker.side is not taker_side
            i += 1
    assert own.traded_quantity == traded_before + traded
    assert own.traded_notional == notional_before + notional


# ------------------------------------------------------------------- driver


@dataclass
class Driver:
    """An engine, a clock, and the owner of each order id; checks every command."""

    engine: MatchingEngine = field(default_factory=new_engine)
    clock: int = 0
    owners: dict[str, str] = field(default_factory=dict)
    check: bool = True

    def resolve(self, command: Command) -> Command:
        if isinstance(command, PlaceOrder) or command.account != OWNER:
            return command
        return replace(command, account=self.owners.get(command.order_id, "nobody"))

    def do(self, command: Command) -> list[Event]:
        command = self.resolve(command)
        self.clock += 1
        if self.check:
            resting = {o.order_id: o for o in self.engine.open_orders()}
            sequence = self.engine.sequence
        events = self.engine.execute(command, self.clock)
        if self.check:
            check_events(command, events, resting, sequence, self.clock)
            assert self.engine.sequence >= max(
                (t.sequence for t in trades_of(events)), default=sequence
            )
            self.assert_not_crossed()
        if isinstance(command, PlaceOrder) and isinstance(events[0], OrderAccepted):
            self.owners[command.order_id] = command.account
        return events

    def do_all(self, commands: Iterable[Command]) -> list[Event]:
        return [event for command in commands for event in self.do(command)]

    def depth(self, symbol: str = SYMBOL) -> tuple[list[LevelTuple], list[LevelTuple]]:
        return depth(self.engine, symbol)

    def assert_not_crossed(self) -> None:
        for symbol in self.engine.symbols:
            book = self.engine.book(symbol)
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is None or ask is None or bid < ask, f"{symbol} crossed: {bid} >= {ask}"


# ------------------------------------------------------------ table format


@dataclass(frozen=True, slots=True)
class Step:
    """One command and everything observable right after it, written by hand.

    `bids` / `asks` are the full depth (best first); the best bid / ask are checked to
    be their first prices (or None for an empty side). `status`/`reason`, when given,
    are the final state of the command's own order in the step's events.
    """

    command: Command
    trades: Sequence[TradeTuple] = ()
    bids: Sequence[LevelTuple] = ()
    asks: Sequence[LevelTuple] = ()
    reject: RejectReason | None = None
    status: OrderStatus | None = None
    reason: CancelReason | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    guards_against: str  # the classic bug this sequence catches
    steps: Sequence[Step]


def run_steps(steps: Sequence[Step], driver: Driver | None = None) -> Driver:
    driver = Driver() if driver is None else driver
    for number, step in enumerate(steps, start=1):
        events = driver.do(step.command)
        where = f"step {number}: {step.command!r}\nevents: {events!r}"
        assert rejection(events) == step.reject, where
        assert trade_tuples(events) == list(step.trades), where
        bids, asks = driver.depth()
        assert (bids, asks) == (list(step.bids), list(step.asks)), where
        book = driver.engine.book(SYMBOL)
        assert book.best_bid() == (step.bids[0][0] if step.bids else None), where
        assert book.best_ask() == (step.asks[0][0] if step.asks else None), where
        if step.status is not None:
            own = last_update(events, step.command.order_id)
            assert (own.status, own.cancel_reason) == (step.status, step.reason), where
    return driver
