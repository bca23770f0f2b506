"""Realistic records for persistence tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationSource,
    StrategyType,
)
from strikeflow.domain.records import Execution, Recommendation

AT = datetime(2026, 11, 19, 15, 30, tzinfo=UTC)  # 10:30 in New York


def recommendation(rec_id: str = "rec-aapl-1", **overrides) -> Recommendation:
    values = {
        "id": rec_id,
        "ticker": "AAPL",
        "action": Action.BUY,
        "instrument_type": InstrumentType.CALL,
        "strategy_type": StrategyType.DAY_TRADE,
        "confidence": 0.82,
        "source": RecommendationSource.SCAN,
        "features": {"volume_ratio": 3.4, "price_momentum": 0.021},
        "sentiment": 0.1,
        "reason": "volume surge with momentum",
        "rule_id": "intraday-surge",
        "created_at": AT,
        "updated_at": AT,
    }
    return Recommendation(**{**values, **overrides})


def stock_execution(cid: str = "sf-stock-1", rec_id: str = "rec-aapl-1", **overrides) -> Execution:
    values = {
        "recommendation_id": rec_id,
        "client_order_id": cid,
        "ticker": "AAPL",
        "action": Action.BUY,
        "instrument_type": InstrumentType.STOCK,
        "broker": BrokerName.ALPACA,
        "execution_mode": ExecutionMode.PAPER,
        "status": ExecutionStatus.FILLED,
        "quantity": Decimal("12"),
        "broker_order_id": "6c1a0f0e-0000-4000-8000-000000000001",
        "filled_qty": Decimal("12"),
        "filled_avg_price": Decimal("229.1400"),
        "notional": Decimal("2749.68"),
        "explain_json": {"sizing": "12 × 229.14 of budget 2800.00"},
        "created_at": AT,
        "submitted_at": AT,
        "filled_at": AT + timedelta(seconds=2),
        "updated_at": AT + timedelta(seconds=2),
    }
    return Execution(**{**values, **overrides})


def option_execution(cid: str = "sf-call-1", rec_id: str = "rec-aapl-1", **overrides) -> Execution:
    contracts = overrides.get("contracts", 3)
    values = {
        "recommendation_id": rec_id,
        "client_order_id": cid,
        "ticker": "AAPL",
        "action": Action.BUY,
        "instrument_type": InstrumentType.CALL,
        "broker": BrokerName.ALPACA,
        "execution_mode": ExecutionMode.PAPER,
        "status": ExecutionStatus.FILLED,
        "quantity": Decimal(contracts),
        "filled_qty": Decimal(contracts),
        "filled_avg_price": Decimal("2.15"),
        "explain_json": {"chosen": {"symbol": "AAPL261120C00230000"}, "rejected": []},
        "position_effect": PositionEffect.OPEN,
        "strike_price": Decimal("230.00"),
        "expiration_date": date(2026, 11, 20),
        "contracts": contracts,
        "premium_paid": Decimal("2.15"),
        "delta": Decimal("0.4812"),
        "theta": Decimal("-0.2210"),
        "gamma": Decimal("0.0412"),
        "vega": Decimal("0.0911"),
        "implied_volatility": Decimal("0.2633"),
        "option_symbol": "AAPL261120C00230000",
        "strategy_type": StrategyType.DAY_TRADE,
        "created_at": AT,
        "submitted_at": AT,
        "filled_at": AT + timedelta(seconds=3),
        "updated_at": AT + timedelta(seconds=3),
    }
    return Execution(**{**values, **overrides})
