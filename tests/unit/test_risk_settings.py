"""Risk limits come from STRIKEFLOW_RISK_* settings; bad values name the setting."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest
from pydantic import ValidationError

from strikeflow.config import Settings
from strikeflow.domain.risk import RiskLimits
from strikeflow.services.dispatch_policy import DispatchPolicy


def test_the_defaults_are_the_domain_defaults():
    assert DispatchPolicy.from_settings(Settings()).risk == RiskLimits()


def test_each_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_RISK_MAX_OPEN_POSITIONS", "7")
    monkeypatch.setenv("STRIKEFLOW_RISK_MAX_DAILY_REALIZED_LOSS", "1250.50")
    monkeypatch.setenv("STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER", "9000")
    monkeypatch.setenv("STRIKEFLOW_RISK_DAY_TRADE_CUTOFF", "15:45")
    assert DispatchPolicy.from_settings(Settings()).risk == RiskLimits(
        max_open_positions=7,
        max_daily_realized_loss=Decimal("1250.50"),
        max_exposure_per_ticker=Decimal("9000"),
        day_trade_cutoff=time(15, 45),
    )


def test_zero_and_none_turn_a_limit_off():
    limits = DispatchPolicy.from_settings(
        Settings(
            risk_max_open_positions=0,
            risk_max_daily_realized_loss=0,
            risk_max_exposure_per_ticker=0,
            risk_day_trade_cutoff="none",
        )
    ).risk
    assert limits == RiskLimits(None, None, None, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("risk_max_open_positions", "-1"),
        ("risk_max_daily_realized_loss", "-5"),
        ("risk_max_exposure_per_ticker", "lots"),
        ("risk_day_trade_cutoff", "25:00"),
        ("risk_day_trade_cutoff", "3pm"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(f"STRIKEFLOW_{name.upper()}", value)
    with pytest.raises(ValidationError, match=name):
        Settings()
