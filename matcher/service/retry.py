"""Retry an I/O step through an outage: capped exponential backoff, forever unless stopped.

Nothing is acknowledged while a step retries, so waiting is always safe; giving up would
only turn a short outage into a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pymongo.errors
import redis.exceptions

log = logging.getLogger("matcher")

TRANSIENT: tuple[type[BaseException], ...] = (
    pymongo.errors.AutoReconnect,  # includes NotPrimary, network timeouts
    pymongo.errors.ConnectionFailure,
    pymongo.errors.ServerSelectionTimeoutError,
    pymongo.errors.NetworkTimeout,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    ConnectionError,
    TimeoutError,
)
# Also retried: a timed-out operation (see _timed_out).
RETRIED: tuple[type[BaseException], ...] = (*TRANSIENT, pymongo.errors.PyMongoError)
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 2.0


class GaveUpError(Exception):
    """The retry loop was asked to give up (shutdown or lost lease)."""


def retry[T](
    what: str,
    step: Callable[[], T],
    keep_going: Callable[[], bool] = lambda: True,
    on_retry: Callable[[], None] = lambda: None,
) -> T:
    pause = FIRST_PAUSE_S
    attempts = 0
    while True:
        try:
            return step()
        except RETRIED as exc:
            # A timed-out operation (a lease deadline included) is retried like an outage;
            # keep_going decides whether the lease still allows another try.
            if not isinstance(exc, TRANSIENT) and not _timed_out(exc):
                raise
            attempts += 1
            on_retry()
            if attempts == 1 or attempts % 10 == 0:
                log.warning("%s failed (%s: %s); retrying", what, type(exc).__name__, exc)
            if not keep_going():
                raise GaveUpError(what) from exc
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, pymongo.errors.PyMongoError) and exc.timeout
