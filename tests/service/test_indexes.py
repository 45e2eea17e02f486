"""Which indexes the matcher creates: secondary ones only where the server uses them."""

from __future__ import annotations

from matcher.service import store
from tests.service.harness import ServiceEnv


def test_secondary_indexes_exist_only_where_queries_can_use_them(
    service_env: ServiceEnv,
) -> None:
    dbs = store.connect(service_env.mongodb_uri, service_env.db_name)
    store.ensure_indexes(dbs)
    store.ensure_indexes(dbs)  # idempotent, as every matcher start runs it
    db = dbs.main
    explained = db.command("explain", {"find": "orders", "filter": {"account": "a"}})
    secondary = {
        name
        for collection in (db.orders, db.open_orders, db.trades, dbs.journal)
        for name in collection.index_information()
        if name != "_id_"
    }
    if explained.get("filterPushdown") is False:  # FerretDB on SQLite: scans anyway
        assert secondary == set()
    else:
        assert "account_1_created_at_-1" in secondary and len(secondary) == 9
    # Unique indexes are constraints: on every server.
    assert db.api_keys.index_information()["key_hash_1"]["unique"]
    assert db.accounts.index_information()["account_1"]["unique"]
    # Lists still come back sorted, from a scan or an index.
    db.orders.insert_many(
        [
            {"_id": f"o{i}", "account": "a", "created_at": f"2026-12-01T00:00:{i:02d}"}
            for i in range(5)
        ]
    )
    found = db.orders.find({"account": "a"}).sort([("created_at", -1), ("_id", -1)])
    assert [doc["_id"] for doc in found] == ["o4", "o3", "o2", "o1", "o0"]
