"""Session fixtures for tests that need real servers: ONE throwaway stack on free ports.

The stack starts only when a test asks for one of these fixtures, so unit tests never wait
for servers. The FerretDB binary (a one-time Go build) is provisioned after collection,
before any test runs, so that build never counts against a test's timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from devstack import Stack


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(
        isinstance(item, pytest.Function) and "stack" in item.fixturenames for item in session.items
    ):
        return
    from devstack import ferretdb

    if ferretdb.find_mongod() is None and not (ferretdb.cache_dir() / "ferretdb").is_file():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        say = reporter.write_line if reporter is not None else print
        ferretdb.ferretdb_binary(say)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from devstack import start_stack

    # environ={}: tests never touch a REDIS_URL or MONGODB_URI from the developer's shell.
    with start_stack(tmp_path_factory.mktemp("devstack"), environ={}) as started:
        yield started


@pytest.fixture(scope="session")
def redis_url(stack: Stack) -> str:
    return stack.redis_url


@pytest.fixture(scope="session")
def mongodb_uri(stack: Stack) -> str:
    return stack.mongodb_uri


@pytest.fixture(scope="session")
def upstash_url(stack: Stack) -> str:
    return stack.upstash_url


@pytest.fixture(scope="session")
def upstash_token(stack: Stack) -> str:
    return stack.upstash_token
