"""A seeded, reproducible stream of queue commands: the matcher benchmark's workload and
the matcher-service tests' input (the same generator, so both exercise the same mix)."""

from __future__ import annotations

import random

from lib.commands import CancelCommand, ModifyCommand, PlaceCommand, QueuedCommand


class CommandSource:
    """A seeded random stream of place / modify / cancel commands around a tight spread.

    Three accounts (so self-trade prevention fires), limit and market orders, every time in
    force, post-only, off-tick prices (rejected) and commands for orders that ended.
    """

    def __init__(self, seed: int, symbols: tuple[str, ...] = ("ACME", "GLOBEX")) -> None:
        self.rnd = random.Random(seed)
        self.symbols = symbols
        self.placed: list[tuple[str, str, str]] = []  # (order_id, account, symbol)
        self.count = 0

    def next(self) -> QueuedCommand:
        rnd = self.rnd
        self.count += 1
        command_id = f"cmd-{self.count}"
        roll = rnd.random()
        received_at = 1_795_000_000_000 + self.count
        if self.placed and roll < 0.25:
            order_id, account, symbol = rnd.choice(self.placed[-200:])
            return CancelCommand(
                command_id=command_id, account=account, order_id=order_id, symbol=symbol,
                received_at=received_at,
            )  # fmt: skip
        if self.placed and roll < 0.40:
            order_id, account, symbol = rnd.choice(self.placed[-200:])
            return ModifyCommand(
                command_id=command_id, account=account, order_id=order_id, symbol=symbol,
                received_at=received_at, price=self._price() if rnd.random() < 0.7 else None,
                quantity=rnd.randint(1, 30) if rnd.random() < 0.5 else None,
            )  # fmt: skip
        order_id = f"ord-{self.count}"
        account = rnd.choice(("alice", "bob", "carol"))
        symbol = rnd.choice(self.symbols)
        market = rnd.random() < 0.08
        self.placed.append((order_id, account, symbol))
        return PlaceCommand(
            command_id=command_id, account=account, order_id=order_id, symbol=symbol,
            received_at=received_at, side=rnd.choice(("buy", "sell")),
            order_type="market" if market else "limit",
            time_in_force=rnd.choice(("GTC", "GTC", "GTC", "IOC", "FOK")),
            price=None if market else self._price(), quantity=rnd.randint(1, 20),
            post_only=not market and rnd.random() < 0.05,
        )  # fmt: skip

    def _price(self) -> str:
        if self.rnd.random() < 0.02:
            return "100.005"  # off tick: refused by the matcher
        return f"{100 + self.rnd.randint(-8, 8) * 0.25:.2f}"

    def take(self, n: int) -> list[QueuedCommand]:
        return [self.next() for _ in range(n)]
