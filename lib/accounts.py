"""Accounts and their API keys: how the REST API knows who is calling (DESIGN §2).

An API key is `sbs_<key_id>_<secret>`: `key_id` is 8 hex characters, public, the handle a
person lists and revokes keys by; `secret` is `secrets.token_urlsafe(32)` (32 random bytes).
The plaintext key is shown once, by `create_key`; MongoDB keeps only its SHA-256
(`api_keys.key_hash`, unique index), so a leaked database (or backup) holds no usable key.

Collections (the matcher's `store.ensure_indexes` creates the same indexes;
`ensure_account_indexes` lets this module's CLI run before any matcher ever has):
- `accounts`: `{_id: name, account: name, created_at: ms}`;
- `api_keys`: `{_id: key_id, account, key_hash, created_at: ms, revoked_at: ms | None}`.

`authenticate` is what every order endpoint runs. A warm serverless function keeps a small
in-process cache of successful look-ups for at most `MAX_CACHE_TTL_S` (default
`DEFAULT_CACHE_TTL_S`), so a revoked key stops working everywhere within a second without a
MongoDB round trip on every request.

Nothing here logs or prints a key except the CLI's `create-key`, which prints the new key once.

Command line (settings from MONGODB_URI / MONGODB_DB):
    python -m lib.accounts create-account NAME
    python -m lib.accounts create-key NAME
    python -m lib.accounts list-keys NAME
    python -m lib.accounts revoke KEY_ID
Exit status: 0 done, 1 refused or failed (unknown account or key, MongoDB unreachable),
2 usage or configuration error. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from pymongo import ASCENDING, MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from lib.config import ConfigError, settings_or_exit

Doc = dict[str, Any]

KEY_PREFIX = "sbs"
# Anything longer than a key is refused before any work: a header may be megabytes long.
MAX_PRESENTED_LEN = 200
ACCOUNT_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
KEY_ID_RE = re.compile(r"[0-9a-f]{8}")
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet (which includes `_`,
# so the secret is everything after the second underscore, not a split on `_`).
_KEY_RE = re.compile(r"sbs_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
_SECRET_BYTES = 32
_KEY_ID_ATTEMPTS = 5  # 32-bit ids: a collision is rare, several in a row is impossible

MAX_CACHE_TTL_S = 1.0  # DESIGN: a revoked key stops working within a second
# Half the bound: the margin covers a request still in flight when the entry expires.
DEFAULT_CACHE_TTL_S = 0.5
DEFAULT_CACHE_ENTRIES = 1024


class AccountError(Exception):
    """A refusal the caller can act on; the message is one line and never holds a key."""


class InvalidAccountNameError(AccountError, ValueError):
    """The name is not 1-64 characters of A-Z a-z 0-9 _ . -"""


class InvalidKeyIdError(AccountError, ValueError):
    """A key id is 8 lowercase hex characters."""


class UnknownAccountError(AccountError, LookupError):
    """No such account: keys are only issued to accounts that exist."""


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly issued key. `api_key` exists only here, never in the database; it is kept
    out of `repr` so that logging this object by mistake does not leak it."""

    key_id: str
    account: str
    created_at: int
    api_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: never its hash, never the key."""

    key_id: str
    account: str
    created_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def hash_key(api_key: str) -> str:
    """SHA-256 hex of the full key.

    A fast unsalted hash is the right tool here, unlike for passwords: a key carries 256 bits
    of randomness, so no amount of hashing speed makes guessing it feasible, whereas a slow
    KDF (bcrypt, scrypt, argon2) would add tens of milliseconds of CPU to every request of a
    serverless function and hand an attacker a cheap CPU-exhaustion lever. Being
    deterministic, the hash is also the indexed look-up key (a salt would prevent that).
    """
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def key_id_of(api_key: str) -> str | None:
    """The public key id inside a well-formed key (e.g. for the rate limit's bucket), else
    None. Says nothing about validity: call it after `authenticate` accepted the key."""
    if not isinstance(api_key, str) or len(api_key) > MAX_PRESENTED_LEN:
        return None
    match = _KEY_RE.fullmatch(api_key)
    return None if match is None else match.group(1)


def validate_account(name: str) -> str:
    if not ACCOUNT_RE.fullmatch(name):
        raise InvalidAccountNameError(
            f"{name[:80]!r} is not an account name (1-64 characters of A-Z a-z 0-9 _ . -)"
        )
    return name


def ensure_account_indexes(db: Database[Doc]) -> None:
    """The unique indexes `authenticate` and `create_account` rely on; idempotent.

    Identical to those of matcher.service.store.ensure_indexes (same keys, same options, so
    the same default names): whichever runs first creates them, the other is a no-op.
    """
    db.api_keys.create_index([("key_hash", ASCENDING)], unique=True)
    db.accounts.create_index([("account", ASCENDING)], unique=True)


def create_account(db: Database[Doc], name: str) -> bool:
    """Create the account; True if created, False if it already existed.

    Idempotent on purpose: seeding scripts (the local stack's demo accounts) and operators
    re-run it freely, and "already there" is the state they wanted. A malformed name raises
    InvalidAccountNameError.
    """
    validate_account(name)
    try:
        db.accounts.insert_one({"_id": name, "account": name, "created_at": now_ms()})
    except DuplicateKeyError:
        return False
    return True


def account_exists(db: Database[Doc], name: str) -> bool:
    return (
        ACCOUNT_RE.fullmatch(name) is not None and db.accounts.find_one({"_id": name}) is not None
    )


def create_key(db: Database[Doc], account: str) -> NewKey:
    """Issue a new key for an existing account; the returned `api_key` is the only copy.

    Raises UnknownAccountError (or InvalidAccountNameError). A key id already taken (32-bit
    ids, so it can happen after tens of thousands of keys) is retried with a fresh one.
    """
    validate_account(account)
    if db.accounts.find_one({"_id": account}) is None:
        raise UnknownAccountError(f"no account {account!r} (create it first)")
    for _ in range(_KEY_ID_ATTEMPTS):
        key_id = secrets.token_hex(4)
        api_key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        created_at = now_ms()
        doc = {
            "_id": key_id,
            "account": account,
            "key_hash": hash_key(api_key),
            "created_at": created_at,
            "revoked_at": None,
        }
        try:
            db.api_keys.insert_one(doc)
        except DuplicateKeyError:
            continue
        return NewKey(key_id=key_id, account=account, created_at=created_at, api_key=api_key)
    raise AccountError("could not find a free key id; try again")  # pragma: no cover


def list_keys(db: Database[Doc], account: str) -> list[KeyInfo]:
    """The account's keys, oldest first, revoked ones included (marked), hashes never."""
    projection = {"_id": 1, "account": 1, "created_at": 1, "revoked_at": 1}
    docs = db.api_keys.find({"account": account}, projection)
    infos = [
        KeyInfo(
            key_id=str(doc["_id"]),
            account=str(doc["account"]),
            created_at=int(doc["created_at"]),
            revoked_at=None if doc.get("revoked_at") is None else int(doc["revoked_at"]),
        )
        for doc in docs
    ]
    return sorted(infos, key=lambda info: (info.created_at, info.key_id))


def revoke_key(db: Database[Doc], key_id: str) -> bool:
    """Revoke a key by its public id; True if the key exists (and is now revoked), False if
    there is no such key.

    Idempotent: revoking twice keeps the first `revoked_at`. Other processes stop accepting
    the key once their `AuthCache` entry expires (at most MAX_CACHE_TTL_S).
    """
    if not isinstance(key_id, str) or not KEY_ID_RE.fullmatch(key_id):
        return False
    result = db.api_keys.update_one(
        {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": now_ms()}}
    )
    if result.matched_count:
        return True
    return db.api_keys.find_one({"_id": key_id}, {"_id": 1}) is not None


class AuthCache:
    """Successful `authenticate` look-ups, remembered for `ttl_s` seconds per process.

    Only successes are cached: a failed key is never remembered, so a key that was just
    created works at once, and random junk cannot fill the cache. Entries are keyed by the
    key's hash (the process never holds a plaintext key longer than the request) and by the
    database name. An entry's lifetime counts from *before* the MongoDB read, so a key
    revoked after that read is refused at most `ttl_s` later. Thread-safe.
    """

    def __init__(
        self, ttl_s: float = DEFAULT_CACHE_TTL_S, max_entries: int = DEFAULT_CACHE_ENTRIES
    ) -> None:
        if not 0 <= ttl_s <= MAX_CACHE_TTL_S:
            raise ValueError(f"ttl_s must be from 0 to {MAX_CACHE_TTL_S} seconds")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, scope: str, key_hash: str, now: float) -> str | None:
        with self._lock:
            entry = self._entries.get((scope, key_hash))
            if entry is None:
                return None
            account, expires_at = entry
            if now >= expires_at:
                del self._entries[(scope, key_hash)]
                return None
            return account

    def put(self, scope: str, key_hash: str, account: str, read_started: float) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._evict(read_started)
            self._entries[(scope, key_hash)] = (account, read_started + self.ttl_s)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self, now: float) -> None:
        """Drop expired entries; if all are live, the oldest inserted (dicts keep order)."""
        for cache_key in [k for k, (_, expires) in self._entries.items() if now >= expires]:
            del self._entries[cache_key]
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]


# One per process: what a warm serverless function reuses between requests.
DEFAULT_CACHE = AuthCache()


def authenticate(
    db: Database[Doc], presented: str, *, cache: AuthCache | None = DEFAULT_CACHE
) -> str | None:
    """The account owning the presented key, or None (unknown, malformed, or revoked).

    The input is bounded and must have the key's exact format before it is hashed or sent
    to MongoDB. The stored hash is compared in constant time, and the key id embedded in
    the key must be the stored one. `cache=None` always asks MongoDB.
    """
    # Not only a header: a Socket.IO auth payload is any JSON, so check the type too.
    if not isinstance(presented, str) or len(presented) > MAX_PRESENTED_LEN:
        return None
    match = _KEY_RE.fullmatch(presented)
    if match is None:
        return None
    key_hash = hash_key(presented)
    scope = db.name
    started = time.monotonic()
    if cache is not None:
        cached = cache.get(scope, key_hash, started)
        if cached is not None:
            return cached
    doc = db.api_keys.find_one(
        {"key_hash": key_hash}, {"_id": 1, "account": 1, "key_hash": 1, "revoked_at": 1}
    )
    if doc is None:
        return None
    stored_hash = doc.get("key_hash")
    if not isinstance(stored_hash, str) or not hmac.compare_digest(stored_hash, key_hash):
        return None
    if doc.get("_id") != match.group(1) or doc.get("revoked_at") is not None:
        return None
    account = str(doc["account"])
    if cache is not None:
        cache.put(scope, key_hash, account, started)
    return account


# Command line.


def _format_ms(ms: int) -> str:
    """ISO 8601 UTC with a Z, as the REST API writes times (DESIGN §2)."""
    when = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return when.replace("+00:00", "Z")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and status 2 (argparse's default also prints the whole usage)."""
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m lib.accounts", description="Manage accounts and their API keys."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, argument, help_text in (
        ("create-account", "NAME", "create an account (no-op if it exists)"),
        ("create-key", "NAME", "issue a key; it is printed once and cannot be shown again"),
        ("list-keys", "NAME", "list an account's key ids, created and revoked times"),
        ("revoke", "KEY_ID", "revoke a key by its id"),
    ):
        commands.add_parser(command, help=help_text).add_argument("value", metavar=argument)
    return parser


def _run(db: Database[Doc], args: argparse.Namespace) -> int:
    if args.command == "create-account":
        created = create_account(db, args.value)
        print(f"created account {args.value}" if created else f"account {args.value} exists")
        return 0
    if args.command == "create-key":
        new = create_key(db, args.value)
        print(new.api_key)
        print(
            f"key id {new.key_id} for account {new.account}: this key cannot be shown again, "
            "store it now",
            file=sys.stderr,
        )
        return 0
    if args.command == "list-keys":
        validate_account(args.value)
        if not account_exists(db, args.value):
            raise UnknownAccountError(f"no account {args.value!r}")
        for info in list_keys(db, args.value):
            state = (
                "active" if info.revoked_at is None else f"revoked {_format_ms(info.revoked_at)}"
            )
            print(f"{info.key_id}  created {_format_ms(info.created_at)}  {state}")
        return 0
    # revoke
    if not KEY_ID_RE.fullmatch(args.value):
        raise InvalidKeyIdError(f"{args.value[:80]!r} is not a key id (8 hex characters)")
    if not revoke_key(db, args.value):
        raise AccountError(f"no key {args.value}")
    print(f"revoked key {args.value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_or_exit()
    try:
        uri = settings.need("mongodb_uri")
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    client: MongoClient[Doc] | None = None
    try:
        client = MongoClient(uri, serverSelectionTimeoutMS=5000)
        db = client[settings.mongodb_db]
        ensure_account_indexes(db)
        return _run(db, args)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # A malformed name or key id is a usage error; an unknown one a refusal.
        return 2 if isinstance(exc, ValueError) else 1
    except PyMongoError as exc:
        # The class only: driver messages can be long and name hosts; never the URI.
        print(
            f"error: MongoDB failed ({type(exc).__name__}); is MONGODB_URI right?", file=sys.stderr
        )
        return 1
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    raise SystemExit(main())
