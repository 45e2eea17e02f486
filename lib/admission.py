"""Admission of an API request by its key's rate limit: the token taken, or the 429.

lib/ratelimit.py keeps the bucket and decides; this turns its decision into what the API
answers (`rate_limited`, with Retry-After), for every endpoint alike: api/_http takes the
token before the operation, and lib/order_flow for a place, whose token may come from the
enqueue's own script.
"""

from __future__ import annotations

from lib import ratelimit
from lib.backends import Backends, reaching
from lib.errors import ErrorCode
from lib.order_requests import ApiError
from lib.outcome import Outcome


def rate_limited(b: Backends, key_id: str) -> Outcome | None:
    """Take one token from the key's bucket: None, or the 429 to answer."""
    with reaching("redis"):
        decision = ratelimit.allow(b.redis, key_id, b.settings.rate_per_s, b.settings.rate_burst)
    return None if decision.allowed else rate_refusal(decision)


def rate_refusal(decision: ratelimit.Decision) -> Outcome:
    """The 429 for a bucket that had no token, saying when one will be there."""
    return Outcome.error(
        ApiError.of(ErrorCode.RATE_LIMITED), headers={"Retry-After": str(decision.retry_after_s)}
    )
