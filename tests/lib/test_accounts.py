"""lib.accounts against a real MongoDB-compatible server (FerretDB on the test stack).

What must hold: a key authenticates its own account and nothing else, the database never
holds a usable key, a revoked key stops working within the cache TTL (<= 1 s), and the
command-line tool does all of it with clear exit codes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import json_util
from pymongo import MongoClient
from pymongo.database import Database

from lib.accounts import (
    DEFAULT_CACHE,
    DEFAULT_CACHE_TTL_S,
    MAX_CACHE_TTL_S,
    AuthCache,
    InvalidAccountNameError,
    UnknownAccountError,
    authenticate,
    create_account,
    create_key,
    ensure_account_indexes,
    hash_key,
    key_id_of,
    list_keys,
    revoke_key,
)

Doc = dict[str, Any]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
KEY_FORMAT = re.compile(r"sbs_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture(scope="module")
def mongo(mongodb_uri: str) -> Iterator[MongoClient[Doc]]:
    client: MongoClient[Doc] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    with client:
        yield client


@pytest.fixture
def db(mongo: MongoClient[Doc]) -> Iterator[Database[Doc]]:
    name = f"t_acc_{uuid.uuid4().hex[:12]}"
    database = mongo[name]
    ensure_account_indexes(database)
    yield database
    mongo.drop_database(name)


def everything_stored(db: Database[Doc]) -> str:
    """Every document of both collections as one text, to search for leaked secrets."""
    docs = [*db.api_keys.find(), *db.accounts.find()]
    return json_util.dumps(docs)


def test_a_new_key_authenticates_its_account(db: Database[Doc]) -> None:
    assert create_account(db, "alice") is True
    assert create_account(db, "alice") is False  # idempotent: already there
    new = create_key(db, "alice")
    assert KEY_FORMAT.fullmatch(new.api_key)
    assert new.api_key.startswith(f"sbs_{new.key_id}_")
    assert key_id_of(new.api_key) == new.key_id
    assert key_id_of(new.api_key + "x") is None
    assert new.account == "alice"
    assert new.api_key not in repr(new)  # logging the object by mistake leaks nothing
    assert authenticate(db, new.api_key, cache=None) == "alice"
    assert authenticate(db, new.api_key) == "alice"  # through the process-wide cache
    assert authenticate(db, new.api_key) == "alice"  # cached hit


def test_anything_but_the_exact_key_is_refused(db: Database[Doc]) -> None:
    create_account(db, "alice")
    key = create_key(db, "alice").api_key
    prefix, key_id, secret = key[:3], key[4:12], key[13:]
    last = secret[-1]
    other_last = "A" if last != "A" else "B"
    other_id = f"{(int(key_id, 16) + 1) % 2**32:08x}"
    refused = [
        "",
        "sbs_",
        key[:-1],  # one character short
        key[:-1] + other_last,  # right format, wrong secret
        f"{prefix}_{other_id}_{secret}",  # the right secret under another key id
        key + "x",
        key + "x" * 300,  # overlong
        "x" * 10_000,
        "a" * 56,  # a key's length, not its format
        f" {key}",
        f"{key}\n",
        f"Bearer {key}",
        key.upper(),
        f"sk_{key_id}_{secret}",  # another format
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",  # a JWT
        key[:-1] + "é",  # non-ASCII
        key_id,
        secret,
        hash_key(key),  # the stored hash is not a key
    ]
    for presented in refused:
        assert authenticate(db, presented, cache=None) is None, presented[:80]
        assert authenticate(db, presented) is None, presented[:80]
    for not_text in ({"$ne": None}, [key], None, 42, key.encode()):  # e.g. Socket.IO auth
        assert authenticate(db, not_text) is None  # type: ignore[arg-type]
    assert authenticate(db, key, cache=None) == "alice"


def test_the_database_never_holds_the_key(db: Database[Doc]) -> None:
    create_account(db, "alice")
    new = create_key(db, "alice")
    stored = everything_stored(db)
    secret = new.api_key.split("_", 2)[2]
    assert new.api_key not in stored
    assert secret not in stored
    doc = db.api_keys.find_one({"_id": new.key_id})
    assert doc is not None
    assert set(doc) == {"_id", "account", "key_hash", "created_at", "revoked_at"}
    assert doc["key_hash"] == hashlib.sha256(new.api_key.encode()).hexdigest()
    assert doc["account"] == "alice" and doc["revoked_at"] is None
    assert abs(doc["created_at"] - time.time() * 1000) < 60_000


def test_a_revoked_key_stops_working_within_the_cache_ttl(db: Database[Doc]) -> None:
    assert DEFAULT_CACHE_TTL_S <= MAX_CACHE_TTL_S <= 1.0
    assert DEFAULT_CACHE.ttl_s <= 1.0
    with pytest.raises(ValueError, match="ttl_s"):
        AuthCache(ttl_s=1.5)
    ttl = 0.2
    cache = AuthCache(ttl_s=ttl)
    create_account(db, "alice")
    new = create_key(db, "alice")
    started = time.monotonic()
    assert authenticate(db, new.api_key, cache=cache) == "alice"
    assert len(cache) == 1
    assert revoke_key(db, new.key_id) is True
    revoked = time.monotonic()
    assert authenticate(db, new.api_key, cache=None) is None  # MongoDB already says no
    still_cached = authenticate(db, new.api_key, cache=cache)
    if time.monotonic() - started < ttl:  # the cache answered: it still holds the entry
        assert still_cached == "alice"
    while authenticate(db, new.api_key, cache=cache) is not None:
        assert time.monotonic() - revoked < ttl + 0.05, "revoked key still accepted"
        time.sleep(0.01)
    assert time.monotonic() - revoked <= ttl + 0.05
    time.sleep(ttl + 0.05)
    assert authenticate(db, new.api_key, cache=cache) is None  # and stays refused


def test_revoking_is_idempotent_and_needs_a_real_key(db: Database[Doc]) -> None:
    create_account(db, "alice")
    new = create_key(db, "alice")
    assert revoke_key(db, new.key_id) is True
    first = db.api_keys.find_one({"_id": new.key_id})
    assert first is not None and isinstance(first["revoked_at"], int)
    assert revoke_key(db, new.key_id) is True
    again = db.api_keys.find_one({"_id": new.key_id})
    assert again is not None and again["revoked_at"] == first["revoked_at"]
    other_id = "00000000" if new.key_id != "00000000" else "00000001"
    assert revoke_key(db, other_id) is False
    assert revoke_key(db, "not-an-id") is False
    assert revoke_key(db, {"$ne": None}) is False  # type: ignore[arg-type]


def test_list_keys_shows_ids_and_times_but_never_hashes(db: Database[Doc]) -> None:
    create_account(db, "alice")
    first = create_key(db, "alice")
    second = create_key(db, "alice")
    revoke_key(db, first.key_id)
    infos = list_keys(db, "alice")
    assert [info.key_id for info in infos] == [first.key_id, second.key_id]
    assert [info.active for info in infos] == [False, True]
    for info in infos:
        assert {f.name for f in dataclasses.fields(info)} == {
            "key_id",
            "account",
            "created_at",
            "revoked_at",
        }
        assert info.account == "alice"
    shown = repr(infos)
    for new in (first, second):
        assert new.api_key not in shown
        assert hash_key(new.api_key) not in shown
    assert list_keys(db, "nobody") == []


def test_two_accounts_keys_do_not_cross(db: Database[Doc]) -> None:
    for name in ("alice", "bob"):
        create_account(db, name)
    alice = create_key(db, "alice")
    bob = create_key(db, "bob")
    assert authenticate(db, alice.api_key) == "alice"
    assert authenticate(db, bob.api_key) == "bob"
    assert [info.key_id for info in list_keys(db, "alice")] == [alice.key_id]
    assert [info.key_id for info in list_keys(db, "bob")] == [bob.key_id]
    revoke_key(db, alice.key_id)
    assert authenticate(db, alice.api_key, cache=None) is None
    assert authenticate(db, bob.api_key, cache=None) == "bob"


def test_the_same_key_means_nothing_in_another_database(
    db: Database[Doc], mongo: MongoClient[Doc]
) -> None:
    create_account(db, "alice")
    key = create_key(db, "alice").api_key
    assert authenticate(db, key) == "alice"  # cached for `db` ...
    other = mongo[f"{db.name}_other"]
    try:
        assert authenticate(other, key) is None  # ... and not for another database
    finally:
        mongo.drop_database(other.name)


def test_account_names_and_unknown_accounts(db: Database[Doc]) -> None:
    for bad in ("", "a" * 65, "a b", "ä", "a/b", "a$b", "alice\n"):
        with pytest.raises(InvalidAccountNameError):
            create_account(db, bad)
        with pytest.raises(InvalidAccountNameError):
            create_key(db, bad)
    assert create_account(db, "A-z_0.9") is True
    assert create_account(db, "x" * 64) is True
    with pytest.raises(UnknownAccountError):
        create_key(db, "nobody")
    assert db.api_keys.count_documents({}) == 0


# The command-line tool, as an operator runs it.


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lib.accounts", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def cli_env(mongodb_uri: str, db: Database[Doc]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "SBS_"))}
    return {**env, "MONGODB_URI": mongodb_uri, "MONGODB_DB": db.name}


def test_cli_end_to_end(cli_env: dict[str, str], db: Database[Doc]) -> None:
    made = run_cli(cli_env, "create-account", "alice")
    assert (made.returncode, made.stdout.strip()) == (0, "created account alice"), made.stderr
    again = run_cli(cli_env, "create-account", "alice")
    assert (again.returncode, again.stdout.strip()) == (0, "account alice exists")

    issued = run_cli(cli_env, "create-key", "alice")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    assert KEY_FORMAT.fullmatch(key), issued.stdout  # stdout is the key alone: $(...) works
    assert (issued.stdout + issued.stderr).count(key) == 1
    assert "cannot be shown again" in issued.stderr
    key_id = key[4:12]
    assert key_id in issued.stderr
    assert authenticate(db, key, cache=None) == "alice"

    listed = run_cli(cli_env, "list-keys", "alice")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(key_id) and lines[0].endswith("active")
    assert key not in listed.stdout and hash_key(key) not in listed.stdout

    revoked = run_cli(cli_env, "revoke", key_id)
    assert (revoked.returncode, revoked.stdout.strip()) == (0, f"revoked key {key_id}")
    assert authenticate(db, key, cache=None) is None
    assert " revoked 20" in run_cli(cli_env, "list-keys", "alice").stdout
    assert key not in everything_stored(db)


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("create-key", "nobody"), 1, "no account 'nobody'"),
        (("list-keys", "nobody"), 1, "no account 'nobody'"),
        (("revoke", "0badf00d"), 1, "no key 0badf00d"),
        (("revoke", "xyz"), 2, "is not a key id"),
        (("create-account", "bad name"), 2, "is not an account name"),
        (("frobnicate", "alice"), 2, "invalid choice"),
        (("create-key",), 2, "the following arguments are required"),
        ((), 2, "the following arguments are required"),
    ],
)
def test_cli_errors_are_one_line_with_an_exit_status(
    cli_env: dict[str, str], args: tuple[str, ...], status: int, message: str
) -> None:
    result = run_cli(cli_env, *args)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


def test_cli_configuration_and_connection_errors(cli_env: dict[str, str]) -> None:
    unset = {k: v for k, v in cli_env.items() if k != "MONGODB_URI"}
    missing = run_cli(unset, "list-keys", "alice")
    assert missing.returncode == 2
    assert missing.stderr.startswith("configuration error: MONGODB_URI is not set")
    bad_db = run_cli({**cli_env, "MONGODB_DB": "a.b"}, "list-keys", "alice")
    assert bad_db.returncode == 2 and "MONGODB_DB" in bad_db.stderr
    # Nothing listens on port 1: the driver gives up after its 5 s server selection.
    secret_uri = "mongodb://user:s3cret-pass@127.0.0.1:1/?directConnection=true"
    down = run_cli({**cli_env, "MONGODB_URI": secret_uri}, "list-keys", "alice")
    assert down.returncode == 1
    assert down.stderr.startswith("error: MongoDB failed")
    assert len(down.stderr.strip().splitlines()) == 1
    assert "s3cret" not in down.stderr + down.stdout
