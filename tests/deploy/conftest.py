"""One API server (with its matcher) for the deployment checks that call it for real: the
smoke script and the Postman collection (tests/api_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack import Stack
from tests.api_harness import Api, running_api


@pytest.fixture(scope="package")
def api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from running_api(stack, tmp_path_factory)
