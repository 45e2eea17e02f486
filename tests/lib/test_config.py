"""lib.config: settings from the environment, and one clear line for every wrong value."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from lib.config import ConfigError, Settings, SymbolSpec, load_settings, shard_of

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings({})
    assert [spec.symbol for spec in settings.symbols] == ["ACME", "GLOBEX", "INITECH"]
    assert settings.symbols[0] == SymbolSpec("ACME", Decimal("0.01"), Decimal("1000000"))
    assert settings.default_symbol == "ACME"
    assert (settings.shards, settings.reply_timeout_ms) == (1, 2000)
    assert (settings.api_port, settings.matcher_port) == (3000, 8000)
    assert settings.mongodb_db == "sbs"
    assert settings.mongodb_uri is None and settings.redis_url is None
    assert settings.public_realtime_url == "http://127.0.0.1:8000"


def test_every_variable_is_read() -> None:
    settings = load_settings({
        "MONGODB_URI": "mongodb+srv://u:p@cluster.example.net/",
        "MONGODB_DB": "prod",
        "REDIS_URL": "rediss://default:pw@eu1.upstash.io:6379",
        "UPSTASH_REDIS_REST_URL": "https://eu1.upstash.io",
        "UPSTASH_REDIS_REST_TOKEN": "tok",
        "SBS_SYMBOLS": " ACME:0.01:1000000 , GLOBEX:0.05,BRK.A:1:700000 ",
        "SBS_SHARDS": "4",
        "SBS_REPLY_TIMEOUT_MS": "500",
        "SBS_REALTIME_URL": "wss://rt.example.com",
        "SBS_API_PORT": "3100",
        "SBS_MATCHER_PORT": "8100",
    })  # fmt: skip
    assert settings.symbols == (
        SymbolSpec("ACME", Decimal("0.01"), Decimal("1000000")),
        SymbolSpec("GLOBEX", Decimal("0.05"), Decimal("1000000")),
        SymbolSpec("BRK.A", Decimal("1"), Decimal("700000")),
    )
    assert settings.mongodb_db == "prod" and settings.shards == 4
    assert settings.reply_timeout_ms == 500
    assert settings.public_realtime_url == "wss://rt.example.com"
    assert (settings.api_port, settings.matcher_port) == (3100, 8100)
    assert settings.need("upstash_redis_rest_token") == "tok"
    assert settings.symbol_spec("GLOBEX") == settings.symbols[1]
    assert settings.symbol_spec("NOPE") is None


def test_empty_variables_count_as_unset() -> None:
    assert load_settings({"SBS_SHARDS": "", "SBS_SYMBOLS": "  "}) == load_settings({})


def test_shard_of_is_stable_and_in_range() -> None:
    # Fixed values: every process, on every run, must route a symbol to the same shard.
    assert [shard_of(s, 4) for s in ("ACME", "GLOBEX", "INITECH")] == [2, 0, 2]
    assert [shard_of(s, 7) for s in ("ACME", "GLOBEX", "INITECH")] == [6, 6, 0]
    settings = load_settings({"SBS_SHARDS": "4"})
    assert settings.shard_of("ACME") == 2
    assert {load_settings({}).shard_of(s) for s in ("ACME", "GLOBEX", "X")} == {0}


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("SBS_SHARDS", "0", "greater than or equal to 1"),
        ("SBS_SHARDS", "two", "valid integer"),
        ("SBS_SHARDS", "5000", "less than or equal to"),
        ("SBS_REPLY_TIMEOUT_MS", "0", "greater than or equal to"),
        ("SBS_REPLY_TIMEOUT_MS", "3600000", "less than or equal to"),
        ("SBS_API_PORT", "70000", "less than or equal to 65535"),
        ("SBS_MATCHER_PORT", "http", "valid integer"),
        ("SBS_SYMBOLS", "acme", "not a symbol"),
        ("SBS_SYMBOLS", "ACME,", "not a symbol"),
        ("SBS_SYMBOLS", "WAYTOOLONGSYMBOL17", "not a symbol"),
        ("SBS_SYMBOLS", "ACME,ACME", "listed twice"),
        ("SBS_SYMBOLS", "ACME:0", "tick size '0'"),
        ("SBS_SYMBOLS", "ACME:1e-2", "tick size '1e-2'"),
        ("SBS_SYMBOLS", "ACME:0.01:-5", "max price '-5'"),
        ("SBS_SYMBOLS", "ACME:0.03:100", "not a multiple of tick"),
        ("SBS_SYMBOLS", "ACME:0.01:100:7", "more than SYMBOL:TICK:MAX_PRICE"),
        ("MONGODB_URI", "postgres://localhost/x", "must start with mongodb://"),
        ("MONGODB_DB", "bad.name", "not a MongoDB database name"),
        ("REDIS_URL", "http://localhost:6379", "must start with redis://"),
        ("SBS_REALTIME_URL", "ftp://x", "must start with http://"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_variable(var: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({var: value})
    message = str(caught.value)
    assert message.startswith(var)
    assert says in message
    assert "\n" not in message


def test_upstash_url_and_token_come_together() -> None:
    with pytest.raises(ConfigError, match=r"^UPSTASH_REDIS_REST_TOKEN must be set"):
        load_settings({"UPSTASH_REDIS_REST_URL": "https://x.upstash.io"})
    with pytest.raises(ConfigError, match=r"^UPSTASH_REDIS_REST_URL must be set"):
        load_settings({"UPSTASH_REDIS_REST_TOKEN": "secret"})


def test_credentials_never_appear_in_a_message() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MONGODB_URI": "mongo://admin:hunter2@db.example.com/"})
    assert "MONGODB_URI" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_need_names_the_missing_variable() -> None:
    with pytest.raises(ConfigError, match=r"^MONGODB_URI is not set"):
        load_settings({}).need("mongodb_uri")


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValueError, match="frozen"):
        settings.shards = 3
    assert isinstance(settings, Settings)


def test_entry_point_prints_one_line_and_exits_2() -> None:
    env = {**os.environ, "SBS_SHARDS": "-1"}
    result = subprocess.run(
        [sys.executable, "-c", "from lib.config import settings_or_exit; settings_or_exit()"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "SBS_SHARDS='-1'" in result.stderr
