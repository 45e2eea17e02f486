"""lib.queue's enqueue of a place (placeholder and XADD in one script, with or without
the rate-limit token), through both Redis clients against the real Valkey (the Upstash
SDK through the REST front): a token buys the placeholder and the XADD, no token writes
nothing."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from lib import keys, queue, ratelimit
from lib.commands import PlaceCommand, dump_command

T0 = 1_700_000_000_000  # a fixed "now" (ms): the bucket's clock, not Redis's


def _place(symbol: str) -> tuple[PlaceCommand, queue.Placeholder]:
    suffix = uuid.uuid4().hex[:12]
    account = f"acct-{suffix}"
    command = PlaceCommand(
        command_id=f"c-{suffix}", account=account, order_id=f"o-{suffix}", symbol=symbol,
        received_at=T0, side="buy", price="10", quantity=1,
    )  # fmt: skip
    placeholder = queue.Placeholder(command.order_id, account, '{"status":"pending"}', 60, 42)
    return command, placeholder


def test_a_token_buys_the_placeholder_and_the_xadd(client: Any, direct: redis.Redis) -> None:
    symbol = f"E{uuid.uuid4().hex[:6].upper()}"
    admission = queue.Admission(uuid.uuid4().hex[:8], rate_per_s=1.0, burst=2)
    stream = keys.command_stream(0)
    entered = []
    for _ in range(2):
        command, placeholder = _place(symbol)
        entry_id = queue.enqueue_place(client, command, 1, placeholder, admission, T0)
        assert isinstance(entry_id, str)
        entered.append(entry_id)
        assert direct.get(keys.order(command.order_id)) == '{"status":"pending"}'
        assert direct.zscore(keys.recent_orders(command.account), command.order_id) == 42
        entries: Any = direct.xrange(stream, entry_id, entry_id)
        assert entries == [(entry_id, {keys.COMMAND_FIELD: dump_command(command)})]
    assert len(set(entered)) == 2

    # The bucket is empty now (its clock stands still at T0): refused, nothing written.
    command, placeholder = _place(symbol)
    length = direct.xlen(stream)
    refused = queue.enqueue_place(client, command, 1, placeholder, admission, T0)
    assert refused == ratelimit.Decision(allowed=False, retry_after_s=1)
    assert direct.xlen(stream) == length
    assert direct.get(keys.order(command.order_id)) is None
    assert direct.exists(keys.recent_orders(command.account)) == 0
    # The standalone bucket script sees the same bucket: still empty.
    assert not ratelimit.allow(client, admission.key_id, 1.0, 2, T0).allowed


def test_the_placeholder_never_overwrites_the_matcher(client: Any, direct: redis.Redis) -> None:
    command, placeholder = _place("NX")
    direct.set(keys.order(command.order_id), '{"status":"open"}')  # the matcher was first
    admission = queue.Admission(uuid.uuid4().hex[:8], rate_per_s=10.0, burst=5)
    assert isinstance(queue.enqueue_place(client, command, 1, placeholder, admission), str)
    assert direct.get(keys.order(command.order_id)) == '{"status":"open"}'


def test_without_an_admission_no_token_is_taken(client: Any, direct: redis.Redis) -> None:
    """A place that paid its token earlier (an Idempotency-Key, a client_order_id)."""
    command, placeholder = _place("FREE")
    entry_id = queue.enqueue_place(client, command, 1, placeholder)
    assert isinstance(entry_id, str)
    assert direct.get(keys.order(command.order_id)) == '{"status":"pending"}'
    assert direct.zscore(keys.recent_orders(command.account), command.order_id) == 42
    entries: Any = direct.xrange(keys.command_stream(0), entry_id, entry_id)
    assert entries == [(entry_id, {keys.COMMAND_FIELD: dump_command(command)})]
