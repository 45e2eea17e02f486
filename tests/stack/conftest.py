"""Fixtures of the local-stack tests: a MongoDB client and a throwaway database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def client(mongodb_uri: str) -> Iterator[MongoClient[Doc]]:
    mongo: MongoClient[Doc] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    with mongo:
        yield mongo


@pytest.fixture
def db(client: MongoClient[Doc]) -> Iterator[Database[Doc]]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield client[name]
    client.drop_database(name)
