"""What strikeflow records: recommendations (one per signal) and executions (one per order).

Validated here, before any database sees them, so a bad value is refused with the name of
its field instead of surfacing as a driver traceback halfway through a write.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationSource,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.sizing import MAX_MULTIPLIER

# Column widths shared with the schema: text longer than these is refused, not truncated.
MAX_ID = 64
MAX_CLIENT_ORDER_ID = 48
MAX_TEXT = 2_000
TICKER = re.compile(r"[A-Z][A-Z0-9.\-/]{0,15}")
# NUMERIC(10, 2) holds |x| < 1e8, NUMERIC(10, 4) |x| < 1e6: refuse what would overflow.
OPTION_COLUMN_LIMITS = {
    "strike_price": Decimal("1e8"),
    "premium_paid": Decimal("1e8"),
    **{g: Decimal("1e6") for g in ("delta", "theta", "gamma", "vega", "implied_volatility")},
}


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC: every record's default timestamp."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One signal: what to trade and why. ``id`` is deterministic for the same signal."""

    id: str
    ticker: str
    action: Action
    instrument_type: InstrumentType
    strategy_type: StrategyType | None
    confidence: float
    source: RecommendationSource
    features: dict[str, Any] = field(default_factory=dict)
    sentiment: float | None = None
    reason: str | None = None
    rule_id: str | None = None
    status: RecommendationStatus = RecommendationStatus.PENDING
    status_reason: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        _text("id", self.id, MAX_ID, required=True)
        _ticker(self.ticker)
        _enum(self, "action", Action)
        _enum(self, "instrument_type", InstrumentType)
        _enum(self, "source", RecommendationSource)
        _enum(self, "status", RecommendationStatus)
        if self.strategy_type is not None:
            _enum(self, "strategy_type", StrategyType)
        _unit_interval("confidence", self.confidence)
        if self.sentiment is not None and not (
            _finite_number(self.sentiment) and -1 <= self.sentiment <= 1
        ):
            raise InvalidRecord("sentiment", f"must be within [-1, 1], got {shown(self.sentiment)}")
        for name in ("reason", "rule_id", "status_reason"):
            _text(name, getattr(self, name), MAX_TEXT if name != "rule_id" else MAX_ID)
        if not isinstance(self.features, dict):
            raise InvalidRecord("features", f"must be a JSON object, got {shown(self.features)}")
        _aware("created_at", self.created_at)
        _aware("updated_at", self.updated_at)


@dataclass(frozen=True, slots=True)
class Execution:
    """One order sent for a recommendation, and what became of it.

    ``quantity`` is the order quantity: shares, or on option rows the contracts (which it
    defaults to). ``premium_paid`` is the fill price of one contract as quoted (per share, so
    multiply by 100 for dollars); ``theta`` is per day, ``vega`` per vol point.
    """

    recommendation_id: str
    client_order_id: str
    ticker: str
    action: Action
    instrument_type: InstrumentType
    broker: BrokerName
    execution_mode: ExecutionMode
    status: ExecutionStatus
    quantity: Decimal | None = None
    broker_order_id: str | None = None
    filled_qty: Decimal | None = None
    filled_avg_price: Decimal | None = None
    notional: Decimal | None = None
    explain_json: dict[str, Any] = field(default_factory=dict)
    position_effect: PositionEffect = PositionEffect.OPEN
    closes_execution_id: int | None = None
    realized_pnl: Decimal | None = None
    strike_price: Decimal | None = None
    expiration_date: date | None = None
    contracts: int | None = None
    premium_paid: Decimal | None = None
    delta: Decimal | None = None
    theta: Decimal | None = None
    gamma: Decimal | None = None
    vega: Decimal | None = None
    implied_volatility: Decimal | None = None
    option_symbol: str | None = None
    strategy_type: StrategyType | None = None
    # Shares one contract delivers when it is not the standard 100 (an adjusted contract);
    # None: standard, or a share.
    multiplier: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    updated_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def __post_init__(self) -> None:
        _text("recommendation_id", self.recommendation_id, MAX_ID, required=True)
        _text("client_order_id", self.client_order_id, MAX_CLIENT_ORDER_ID, required=True)
        _ticker(self.ticker)
        for name, kind in (
            ("action", Action),
            ("instrument_type", InstrumentType),
            ("broker", BrokerName),
            ("execution_mode", ExecutionMode),
            ("status", ExecutionStatus),
            ("position_effect", PositionEffect),
        ):
            _enum(self, name, kind)
        if self.strategy_type is not None:
            _enum(self, "strategy_type", StrategyType)
        _text("broker_order_id", self.broker_order_id, MAX_ID)
        _text("option_symbol", self.option_symbol, 32)
        for name in ("filled_qty", "filled_avg_price", "notional", "premium_paid"):
            _amount(name, getattr(self, name), minimum=Decimal(0))
        for name in ("realized_pnl", "delta", "theta", "gamma", "vega", "implied_volatility"):
            _amount(name, getattr(self, name))
        for name, limit in OPTION_COLUMN_LIMITS.items():
            value = getattr(self, name)
            if value is not None and abs(value) >= limit:
                raise InvalidRecord(name, f"is out of range for its column: {value}")
        for name in ("created_at", "updated_at", "submitted_at", "filled_at"):
            if getattr(self, name) is not None or name in ("created_at", "updated_at"):
                _aware(name, getattr(self, name))
        if self.instrument_type is not InstrumentType.STOCK:
            self._check_option_fields()
            if self.quantity is None:  # the order quantity of an option order is its contracts
                object.__setattr__(self, "quantity", Decimal(self.contracts))
            elif self.quantity != self.contracts:
                raise InvalidRecord(
                    "quantity", f"must equal contracts ({self.contracts}), got {self.quantity}"
                )
        _amount("quantity", self.quantity, minimum=Decimal(0), exclusive=True, required=True)
        if self.multiplier is not None and (
            isinstance(self.multiplier, bool)
            or not isinstance(self.multiplier, int)
            or not 0 < self.multiplier <= MAX_MULTIPLIER
        ):
            got = shown(self.multiplier)
            raise InvalidRecord("multiplier", f"must be 1-{MAX_MULTIPLIER} shares, got {got}")

    def _check_option_fields(self) -> None:
        kind = self.instrument_type.value
        _amount("strike_price", self.strike_price, Decimal(0), exclusive=True, required=True)
        if not isinstance(self.expiration_date, date) or isinstance(self.expiration_date, datetime):
            raise InvalidRecord(
                "expiration_date", f"{kind} rows need a date, got {shown(self.expiration_date)}"
            )
        if not self.option_symbol:
            raise InvalidRecord("option_symbol", f"{kind} rows need an OCC symbol")
        if (
            isinstance(self.contracts, bool)
            or not isinstance(self.contracts, int)
            or self.contracts <= 0
        ):
            raise InvalidRecord(
                "contracts", f"{kind} rows need a whole number > 0, got {shown(self.contracts)}"
            )


def shown(value: object, limit: int = 64) -> str:
    """``repr(value)`` cut to ``limit`` characters, for an error message: a payload can
    be huge, and ``repr`` of an int of over 4300 digits raises instead of returning."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _enum(record: object, name: str, kind: type[StrEnum]) -> None:
    value = getattr(record, name)
    try:
        object.__setattr__(record, name, kind(value))
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidRecord(name, f"must be one of {allowed}; got {shown(value)}") from None


def _text(name: str, value: object, limit: int, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise InvalidRecord(name, f"must be a non-empty string, got {shown(value)}")
    if len(value) > limit:
        raise InvalidRecord(name, f"is {len(value)} characters, more than {limit}")
    if "\x00" in value:
        raise InvalidRecord(name, "must not contain NUL characters")


def _ticker(value: object) -> None:
    if not isinstance(value, str) or TICKER.fullmatch(value) is None:
        raise InvalidRecord(
            "ticker",
            f"must be 1-16 of A-Z, 0-9, '.', '-', '/' starting with a letter; got {shown(value)}",
        )


def _finite_number(value: object) -> bool:
    return (
        isinstance(value, int | float | Decimal)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _unit_interval(name: str, value: object) -> None:
    if not (_finite_number(value) and 0 <= value <= 1):
        raise InvalidRecord(name, f"must be within [0, 1], got {shown(value)}")


def _amount(
    name: str,
    value: object,
    minimum: Decimal | None = None,
    exclusive: bool = False,
    required: bool = False,
) -> None:
    if value is None:
        if required:
            raise InvalidRecord(name, "is required")
        return
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidRecord(name, f"must be a finite Decimal, got {shown(value)}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise InvalidRecord(name, f"must be {'>' if exclusive else '>='} {minimum}, got {value}")
    if abs(value) >= Decimal("1e12"):
        raise InvalidRecord(name, f"is out of range: {value}")


def _aware(name: str, value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRecord(name, f"must be a timezone-aware datetime, got {shown(value)}")
