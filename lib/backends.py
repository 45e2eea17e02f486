"""The API's links to Redis (through the Upstash REST SDK, as on Vercel) and MongoDB.

One `Backends` per process, made on first use and kept: a warm serverless function reuses
its HTTP and MongoDB connection pools between requests. Every failure to reach either
store surfaces as `UnavailableError`, which the API answers with 503 `service_unavailable`
and never as a 500 (DESIGN §2).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError
from upstash_redis import Redis

from lib.config import Settings, load_settings
from lib.rest_http import KeepAliveClient

Doc = dict[str, Any]

# Upstash answers in milliseconds; a request that hangs must not hold a function until
# Vercel kills it (the SDK's own client has no timeout at all).
REDIS_TIMEOUT_S = 5.0
REDIS_RETRY_INTERVAL_S = 0.05
# Idle connections kept: as many as the process serves requests at once (a threaded WSGI
# server; Vercel's fluid compute), or it would pay a TCP (on Upstash a TLS) handshake for
# most requests.
REDIS_KEEPALIVE_CONNECTIONS = 100
MONGO_TIMEOUT_MS = 3000


class UnavailableError(Exception):
    """Redis or MongoDB could not be reached or failed; the message names which."""


@dataclass(frozen=True)
class Backends:
    settings: Settings
    redis: Any  # upstash_redis.Redis
    db: Database[Doc]

    def ping(self) -> dict[str, bool]:
        """Whether each store answers now (for /api/health)."""
        checks: dict[str, Callable[[], object]] = {
            "redis": lambda: self.redis.execute(["PING"]),
            "mongodb": lambda: self.db.command("ping"),
        }
        result = {}
        for name, check in checks.items():
            try:
                check()
                result[name] = True
            except Exception:
                result[name] = False
        return result


def _make(settings: Settings) -> Backends:
    redis = Redis(
        settings.need("upstash_redis_rest_url"),
        settings.need("upstash_redis_rest_token"),
        # One retry: the SDK may repeat a POST, so every command the API sends is safe to
        # repeat (XADD duplicates are deduplicated by command_id in the matcher).
        rest_retries=1,
        rest_retry_interval=REDIS_RETRY_INTERVAL_S,
        allow_telemetry=False,
    )
    # The SDK's own httpx client costs 3.5x the CPU a request (lib/rest_http.py).
    transport: Any = redis._http  # typed for httpx; the SDK only calls post() on it
    transport._client = KeepAliveClient(REDIS_TIMEOUT_S, REDIS_KEEPALIVE_CONNECTIONS)
    mongo: MongoClient[Doc] = MongoClient(
        settings.need("mongodb_uri"),
        serverSelectionTimeoutMS=MONGO_TIMEOUT_MS,
        connectTimeoutMS=MONGO_TIMEOUT_MS,
        socketTimeoutMS=MONGO_TIMEOUT_MS * 2,
        appname="sbs-api",
    )
    return Backends(settings, redis, mongo[settings.mongodb_db])


_lock = threading.Lock()
_backends: Backends | None = None


def backends() -> Backends:
    """This process's backends; raises lib.config.ConfigError when the settings are wrong."""
    global _backends  # noqa: PLW0603 - one per process, by design
    if _backends is None:
        with _lock:
            if _backends is None:
                _backends = _make(load_settings())
    return _backends


@contextmanager
def reaching(what: str) -> Iterator[None]:
    """Turn any failure of the stores inside the block into UnavailableError."""
    try:
        yield
    except UnavailableError:
        raise
    except (PyMongoError, http.client.HTTPException, OSError) as exc:
        raise UnavailableError(f"{what}: {type(exc).__name__}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("upstash_redis"):
            raise UnavailableError(f"{what}: {type(exc).__name__}") from None
        raise
