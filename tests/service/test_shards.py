"""One matcher per shard: commands reach the shard that owns their symbol, and each
shard mints its own trade ids."""

from __future__ import annotations

from typing import Literal

from lib import queue
from lib.commands import PlaceCommand
from lib.config import shard_of
from tests.service.harness import ServiceEnv, wait_replies

SYMBOLS = ("ACME", "WAYNE")  # crc32 puts them on shards 0 and 1 of 2


def test_two_shards_each_apply_their_own_symbols(service_env: ServiceEnv) -> None:
    assert [shard_of(s, 2) for s in SYMBOLS] == [0, 1]
    matchers = [
        service_env.matcher(
            f"shard{n}", shard=n, SBS_SHARDS="2", SBS_SYMBOLS=",".join(SYMBOLS)
        ).start()
        for n in (0, 1)
    ]
    client = service_env.redis()
    try:
        for matcher in matchers:
            matcher.wait_role("leader")
        ids = []
        for symbol in SYMBOLS:
            sides: tuple[Literal["buy", "sell"], ...] = ("sell", "buy", "sell", "buy")
            for n, side in enumerate(sides):
                command = PlaceCommand(
                    command_id=f"{symbol}-{n}", account=f"acct{n}", order_id=f"{symbol}-o{n}",
                    symbol=symbol, received_at=0, side=side, price="10", quantity=5,
                )  # fmt: skip
                queue.enqueue(client, command, shards=2)
                ids.append(command.command_id)
        replies = wait_replies(client, ids)
        assert all(r["success"] for r in replies.values())
        for matcher in matchers:
            matcher.wait_projected()
        trades = list(service_env.db().trades.find())
        assert len(trades) == 4
        for trade in trades:
            shard = SYMBOLS.index(trade["symbol"])
            assert trade["_id"].startswith(f"T{shard}-")
        # Each process applied exactly its own symbol's four commands.
        assert [m.health()["commands_applied"] for m in matchers] == [4, 4]
    finally:
        for matcher in matchers:
            matcher.terminate()
