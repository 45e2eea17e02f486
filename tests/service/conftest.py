"""Fixtures of the matcher-service tests: a clean Redis and a database of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from matcher.service.store import journal_db_name
from tests.service.harness import ServiceEnv


@pytest.fixture
def service_env(redis_url: str, mongodb_uri: str, tmp_path: Path) -> Iterator[ServiceEnv]:
    # Tests run one at a time: each starts from an empty Redis (streams, leases, caches).
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    env = ServiceEnv(redis_url, mongodb_uri, f"t_{uuid.uuid4().hex[:12]}", tmp_path / "logs")
    yield env
    mongo = env.db().client
    mongo.drop_database(env.db_name)
    mongo.drop_database(journal_db_name(env.db_name))
