"""Settings from the environment (prefix STRIKEFLOW_), read when asked for, never at import."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./strikeflow.db"
DEFAULT_WATCHLIST = ("SPY", "QQQ", "AAPL", "MSFT", "NVDA", "TSLA")
# The ticker shape the records accept (domain.records.TICKER), kept here too: config
# imports nothing of strikeflow's.
WATCHLIST_TICKER = re.compile(r"[A-Z][A-Z0-9.\-/]{0,15}")
MAX_WATCHLIST = 2_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRIKEFLOW_", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL

    # Celery: the broker and the result store, both Redis, on their own db numbers.
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/1"
    # The app's own Redis state (the kill switch), apart from Celery's keys.
    redis_url: str = "redis://127.0.0.1:6379/2"
    # What "now" is for quote freshness and DTE: the wall clock, or the venue's clock
    # (the emulator's simulated time, which moves only when told to).
    clock: Literal["wall", "market"] = "wall"

    # Alpaca. The keys are SecretStr: masked in repr, str and logs.
    alpaca_api_key: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_paper: bool = True
    # One override for trading and market data at once (the emulator), no trailing slash.
    alpaca_base_url: str | None = None
    alpaca_connect_timeout_s: float = Field(default=3.05, gt=0, le=60)
    alpaca_read_timeout_s: float = Field(default=10.0, gt=0, le=120)
    alpaca_options_feed: Literal["indicative", "opra"] = "indicative"
    # How option orders are priced: a marketable limit at mid + fraction x spread.
    option_order_pricing: Literal["marketable_limit", "limit_at_mid", "market"] = "marketable_limit"
    option_spread_fraction: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    # When Alpaca is down or refuses: simulate the fill in-process, or record the failure.
    # Never applies to live trading, whatever it says.
    on_broker_failure: Literal["simulate", "reject"] = "simulate"
    # submit_order's retries on BrokerUnavailable (backoff 1, 2, 4, 8, 16, 30 s) before
    # the fallback policy applies; tests and the demo lower it to see the fallback sooner.
    order_retries: int = Field(default=6, ge=0, le=10)

    # Pre-trade risk limits (size_position); each breach is a rejection with its reason.
    # 0 disables the count or dollar limit; the cut-off is New York wall time (HH:MM).
    risk_max_open_positions: int = Field(default=20, ge=0, le=1_000_000)
    risk_max_daily_realized_loss: Decimal = Field(default=Decimal("5000"), ge=0)
    risk_max_exposure_per_ticker: Decimal = Field(default=Decimal("25000"), ge=0)
    risk_day_trade_cutoff: str | None = Field(default="15:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    # Scans (beat → strikeflow.scan): the tickers, comma-separated ("SPY,QQQ,AAPL").
    watchlist: Annotated[tuple[str, ...], NoDecode] = DEFAULT_WATCHLIST
    # A TOML rules file over the packaged defaults (strikeflow/signals/default_rules.toml).
    rules_file: Path | None = None
    # Unset: scans on market-hours crontabs (New York, weekdays). Set: every this many
    # wall seconds, for simulated time (the emulator's clock runs faster than the wall).
    scan_every_s: float | None = Field(default=None, gt=0, le=3600)
    # A scan's crontab step in minutes (1: every minute from 09:31 to 15:59).
    scan_every_min: int = Field(default=1, ge=1, le=30)
    # How often beat sends reconcile_orders (accepted-but-unfilled orders → their fills).
    reconcile_every_s: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("watchlist", mode="before")
    @classmethod
    def _split_watchlist(cls, value: object) -> object:
        """'spy, QQQ ,aapl' → ('SPY', 'QQQ', 'AAPL'); every ticker checked, none twice."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("give at least one ticker, comma-separated (e.g. SPY,QQQ,AAPL)")
        tickers = [t.upper() if isinstance(t, str) else t for t in value]
        bad = [t for t in tickers if not isinstance(t, str) or not WATCHLIST_TICKER.fullmatch(t)]
        if bad:
            raise ValueError(f"not ticker symbols: {', '.join(map(repr, bad[:10]))}")
        if len(tickers) > MAX_WATCHLIST:
            raise ValueError(f"at most {MAX_WATCHLIST} tickers, got {len(tickers)}")
        return tuple(dict.fromkeys(tickers))

    @field_validator("risk_day_trade_cutoff", mode="before")
    @classmethod
    def _blank_cutoff_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

    @field_validator("rules_file", mode="before")
    @classmethod
    def _blank_rules_file_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis_url(url: str) -> bool:
    """A Redis the fleet shares (not memory://, which lives in one process)."""
    return url.startswith(REDIS_SCHEMES)


def load_settings() -> Settings:
    return Settings()
