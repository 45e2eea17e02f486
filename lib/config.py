"""Settings from the environment (DESIGN §5), validated once at start-up.

`load_settings()` reads `os.environ`; any wrong value raises `ConfigError`, whose message is
one line naming the variable. Entry points call `settings_or_exit()`, which prints that line
on stderr and exits with status 2. Empty variables count as unset, as in most `.env` files.
"""

from __future__ import annotations

import os
import re
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_SYMBOLS = "ACME,GLOBEX,INITECH"
DEFAULT_TICK_SIZE = Decimal("0.01")
DEFAULT_MAX_PRICE = Decimal("1000000")
MAX_SHARDS = 1024

# A symbol (here, in the queue commands and in requests; lib/commands.py, lib/order_requests.py).
SYMBOL_CHARS = r"[A-Z0-9.-]"
MAX_SYMBOL = 16
_SYMBOL_RE = re.compile(f"{SYMBOL_CHARS}{{1,{MAX_SYMBOL}}}")
# Plain decimal notation only: "1e-2", "1_000" or "NaN" in a config file are typos.
_DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
_DB_NAME_RE = re.compile(r'[^/\\. "$\x00]{1,63}')

Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(ValueError):
    """A configuration variable has a wrong value; the message is one line naming it."""


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    symbol: str
    tick_size: Decimal
    max_price: Decimal


def parse_symbols(text: str) -> tuple[SymbolSpec, ...]:
    """Parse `SYMBOL[:TICK[:MAX_PRICE]]` items separated by commas; raises ValueError."""
    specs: list[SymbolSpec] = []
    for item in text.split(","):
        parts = [part.strip() for part in item.split(":")]
        if len(parts) > 3:
            raise ValueError(f"{item.strip()!r} has more than SYMBOL:TICK:MAX_PRICE")
        symbol = parts[0]
        if not _SYMBOL_RE.fullmatch(symbol):
            raise ValueError(f"{symbol!r} is not a symbol (1-16 characters of A-Z 0-9 . -)")
        tick = _positive_decimal(parts[1], "tick size") if len(parts) > 1 else DEFAULT_TICK_SIZE
        max_price = (
            _positive_decimal(parts[2], "max price") if len(parts) > 2 else DEFAULT_MAX_PRICE
        )
        if max_price % tick != 0:
            raise ValueError(f"{symbol}: max price {max_price} is not a multiple of tick {tick}")
        if any(spec.symbol == symbol for spec in specs):
            raise ValueError(f"{symbol} is listed twice")
        specs.append(SymbolSpec(symbol, tick, max_price))
    return tuple(specs)


def _positive_decimal(text: str, what: str) -> Decimal:
    if not _DECIMAL_RE.fullmatch(text) or Decimal(text) <= 0:
        raise ValueError(f"{what} {text!r} is not a positive decimal number")
    return Decimal(text)


def shard_of(symbol: str, shards: int) -> int:
    """The shard owning `symbol`. Stable across processes and runs (unlike `hash()`)."""
    return zlib.crc32(symbol.encode("utf-8")) % shards


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mongodb_uri: str | None = None
    mongodb_db: str = "sbs"
    redis_url: str | None = None
    upstash_redis_rest_url: str | None = None
    upstash_redis_rest_token: str | None = None
    symbols: tuple[SymbolSpec, ...] = parse_symbols(DEFAULT_SYMBOLS)
    shards: int = Field(default=1, ge=1, le=MAX_SHARDS)
    reply_timeout_ms: int = Field(default=2000, ge=10, le=60_000)
    realtime_url: str | None = None
    # Per API key: sustained requests per second, and how many may come at once.
    rate_per_s: float = Field(default=100.0, gt=0, le=1_000_000)
    rate_burst: int = Field(default=200, ge=1, le=1_000_000)
    api_port: Port = 3000
    matcher_port: Port = 8000

    @field_validator("symbols", mode="before")
    @classmethod
    def _parse_symbols(cls, value: Any) -> Any:
        return parse_symbols(value) if isinstance(value, str) else value

    @field_validator("mongodb_uri")
    @classmethod
    def _mongodb_scheme(cls, value: str | None) -> str | None:
        return _require_scheme(value, ("mongodb://", "mongodb+srv://"))

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        return _require_scheme(value, ("redis://", "rediss://", "unix://"))

    @field_validator("upstash_redis_rest_url")
    @classmethod
    def _upstash_scheme(cls, value: str | None) -> str | None:
        return _require_scheme(value, ("http://", "https://"))

    @field_validator("realtime_url")
    @classmethod
    def _realtime_scheme(cls, value: str | None) -> str | None:
        return _require_scheme(value, ("http://", "https://", "ws://", "wss://"))

    @field_validator("mongodb_db")
    @classmethod
    def _db_name(cls, value: str) -> str:
        if not _DB_NAME_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a MongoDB database name")
        return value

    @property
    def default_symbol(self) -> str:
        return self.symbols[0].symbol

    @property
    def public_realtime_url(self) -> str:
        """Where clients find Socket.IO: SBS_REALTIME_URL, else the local matcher."""
        return self.realtime_url or f"http://127.0.0.1:{self.matcher_port}"

    def symbol_spec(self, symbol: str) -> SymbolSpec | None:
        return next((spec for spec in self.symbols if spec.symbol == symbol), None)

    def shard_of(self, symbol: str) -> int:
        return shard_of(symbol, self.shards)

    def need(self, field: str) -> str:
        """The value of an optional setting that this caller cannot run without."""
        value = getattr(self, field)
        if not value:
            var = ENV_VARS[field]
            raise ConfigError(
                f"{var} is not set (start the local stack with `make run`, or set it)"
            )
        return str(value)


def _require_scheme(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is not None and not value.startswith(schemes):
        raise ValueError(f"must start with {' or '.join(schemes)}")
    return value


# Settings field -> the environment variable it comes from.
ENV_VARS: dict[str, str] = {
    "mongodb_uri": "MONGODB_URI",
    "mongodb_db": "MONGODB_DB",
    "redis_url": "REDIS_URL",
    "upstash_redis_rest_url": "UPSTASH_REDIS_REST_URL",
    "upstash_redis_rest_token": "UPSTASH_REDIS_REST_TOKEN",
    "symbols": "SBS_SYMBOLS",
    "shards": "SBS_SHARDS",
    "reply_timeout_ms": "SBS_REPLY_TIMEOUT_MS",
    "realtime_url": "SBS_REALTIME_URL",
    "rate_per_s": "SBS_RATE_PER_S",
    "rate_burst": "SBS_RATE_BURST",
    "api_port": "SBS_API_PORT",
    "matcher_port": "SBS_MATCHER_PORT",
}


_SECRET_VARS = frozenset({"MONGODB_URI", "REDIS_URL", "UPSTASH_REDIS_REST_TOKEN"})


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {
        field: env[var].strip()
        for field, var in ENV_VARS.items()
        if env.get(var, "").strip()  # empty means unset
    }
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc, values) from None
    url_set = settings.upstash_redis_rest_url is not None
    if url_set != (settings.upstash_redis_rest_token is not None):
        missing = "UPSTASH_REDIS_REST_TOKEN" if url_set else "UPSTASH_REDIS_REST_URL"
        raise ConfigError(f"{missing} must be set together with the other UPSTASH_REDIS_REST_*")
    return settings


def _config_error(exc: ValidationError, values: Mapping[str, str]) -> ConfigError:
    error = exc.errors(include_url=False)[0]
    field = str(error["loc"][0])
    var = ENV_VARS[field]
    message = str(error["msg"]).removeprefix("Value error, ")
    # Values that may carry credentials are never echoed; the others are, to show what was read.
    shown = "" if var in _SECRET_VARS else f"={values.get(field, '')!r}"
    return ConfigError(f"{var}{shown}: {message}".replace("\n", " "))


def settings_or_exit() -> Settings:
    """For entry points: the settings, or the one-line error on stderr and exit status 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
