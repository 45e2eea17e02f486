"""What the code must NOT rely on (docs/MONGODB.md), shown on the real server.

Some of these are FerretDB v1.24 bugs; they are skipped on a `mongod`. If one of these tests
starts failing, the server changed: update docs/MONGODB.md with it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from bson import Decimal128
from pymongo import MongoClient, UpdateOne
from pymongo.database import Database
from pymongo.errors import AutoReconnect, NetworkTimeout, OperationFailure

from devstack import Stack, free_port
from devstack.ferretdb import ferretdb_binary
from devstack.services import ferretdb_server

Doc = dict[str, Any]


@pytest.fixture
def ferretdb_only(stack: Stack) -> None:
    if not stack.mongodb_server.startswith("FerretDB"):
        pytest.skip("a FerretDB gap; this stack runs " + stack.mongodb_server)


def test_no_multi_document_transactions(client: MongoClient[Doc], db: Database[Doc]) -> None:
    with client.start_session() as session, pytest.raises(OperationFailure):
        session.with_transaction(lambda s: db.orders.insert_one({"x": 1}, session=s))
    assert db.orders.count_documents({}) == 0


def test_no_change_streams(db: Database[Doc]) -> None:
    db.orders.insert_one({"x": 1})
    with pytest.raises(OperationFailure):
        db.orders.watch().try_next()


@pytest.mark.usefixtures("ferretdb_only")
def test_ferretdb_loses_concurrent_updates_to_one_document(db: Database[Doc]) -> None:
    db.counters.insert_one({"_id": "seq", "value": 0})

    def bump() -> None:
        for _ in range(100):
            db.counters.update_one({"_id": "seq"}, {"$inc": {"value": 1}})

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counter = db.counters.find_one({"_id": "seq"})
    assert counter is not None
    assert counter["value"] < 400  # each update is read-modify-write without isolation


@pytest.mark.usefixtures("ferretdb_only")
def test_ferretdb_refuses_decimal128(db: Database[Doc]) -> None:
    with pytest.raises(AutoReconnect):  # it drops the connection
        db.prices.insert_one({"price": Decimal128("101.25")})
    assert db.prices.count_documents({}) == 0


@pytest.mark.usefixtures("ferretdb_only")
def test_ferretdb_hangs_on_an_update_command_of_100_statements(tmp_path: Path) -> None:
    # A private FerretDB: this wedges its connection pool for good.
    server = ferretdb_server(ferretdb_binary(), free_port(), tmp_path / "data", tmp_path / "logs")
    server.start()
    try:
        mongo: MongoClient[Doc] = MongoClient(server.url, socketTimeoutMS=2000)
        with mongo:
            orders = mongo.gaps.orders
            orders.insert_many([{"_id": i, "v": 0} for i in range(100)])
            small = [UpdateOne({"_id": i}, {"$set": {"v": 1}}) for i in range(99)]
            assert orders.bulk_write(small).modified_count == 99
            with pytest.raises(NetworkTimeout):
                orders.bulk_write([UpdateOne({"_id": i}, {"$set": {"v": 2}}) for i in range(100)])
    finally:
        server.stop(grace=0)
