"""Settings from the environment (prefix STRIKEFLOW_), read when asked for, never at import."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./strikeflow.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRIKEFLOW_", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL


def load_settings() -> Settings:
    return Settings()
