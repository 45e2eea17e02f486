"""Fixtures of the lib/ tests that talk to the test stack's Valkey."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from upstash_redis import Redis as UpstashRedis


@pytest.fixture(params=["redis-py", "upstash"])
def client(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Any]:
    """Each Redis client the project uses: redis-py over TCP, and the production Upstash
    SDK through the Upstash-REST proxy."""
    if request.param == "redis-py":
        with redis.Redis.from_url(redis_url) as tcp:
            yield tcp
    else:
        url = request.getfixturevalue("upstash_url")
        token = request.getfixturevalue("upstash_token")
        rest: Any = UpstashRedis(url, token, rest_retries=0, allow_telemetry=False)
        yield rest
        rest.close()


@pytest.fixture
def direct(redis_url: str) -> Iterator[redis.Redis]:
    """The same Redis over TCP, to look at what the code under test stored."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as connection:
        yield connection
