"""Settings from the environment (prefix STRIKEFLOW_), read when asked for, never at import."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./strikeflow.db"


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


def load_settings() -> Settings:
    return Settings()
