"""One vocabulary of error codes from the matching core to the HTTP status."""

from __future__ import annotations

from lib.errors import KINDS, ErrorCode
from matcher.core import RejectReason


def test_every_core_reason_is_a_code_of_the_vocabulary() -> None:
    # The core may not import lib/, so it spells its codes itself: the same strings.
    assert {r.value for r in RejectReason} <= {c.value for c in ErrorCode}


def test_every_code_has_one_status_and_a_message() -> None:
    assert set(KINDS) == set(ErrorCode)
    for code, kind in KINDS.items():
        assert 400 <= kind.status <= 599, code
        assert kind.message and kind.message[0].islower(), code


def test_a_client_mistake_is_never_a_server_error() -> None:
    server_side = {c for c, kind in KINDS.items() if kind.status >= 500}
    assert server_side == {ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.INTERNAL_ERROR}
