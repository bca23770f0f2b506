"""Rules: features (and an optional sentiment score) → decisions → Recommendation records.

Tried in order for each ticker, the first that fires wins:

1. ``day_trade_option``: a strong intraday signal — confidence > day_trade.min_confidence,
   volume_ratio > day_trade.min_volume_ratio and |momentum| > day_trade.min_abs_momentum —
   is a day-trade option: a CALL when momentum is up (BUY), a PUT when down (SELL).
2. ``swing_option``: a sustained multi-day trend — |trend_return| > swing.min_trend_return
   and trend_consistency >= swing.min_consistency — is a swing-trade option (the selection
   policy gives it 7–30 DTE), CALL or PUT with the trend.
3. ``stock``: any other intraday signal with confidence >= stock.min_confidence is STOCK.
   A bearish one (SELL) on a ticker not held is *skipped*, with its reason: no shorting
   unless stock.allow_short. Tickers below that confidence have no signal at all.

The action is the view on the underlying, as everywhere in strikeflow: BUY bullish, SELL
bearish; options are bought to open and the right carries the direction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from strikeflow.domain.enums import (
    Action,
    InstrumentType,
    RecommendationSource,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import InvalidMarketData
from strikeflow.domain.records import Recommendation, utcnow
from strikeflow.signals.features import Bars, Features, compute_features
from strikeflow.signals.ids import recommendation_id
from strikeflow.signals.rules_file import ConfidenceModel, Rules, default_rules

__all__ = [
    "RULE_DAY_TRADE",
    "RULE_STOCK",
    "RULE_SWING",
    "Decision",
    "NeutralSentiment",
    "SentimentProvider",
    "decide",
    "features_of",
    "intraday_confidence",
    "recommend",
    "swing_confidence",
    "to_recommendation",
]

RULE_DAY_TRADE = "day_trade_option"
RULE_SWING = "swing_option"
RULE_STOCK = "stock"


class SentimentProvider(Protocol):
    """Scores in [-1, 1] (bearish to bullish) for a batch of tickers; a missing one is 0."""

    def scores(self, tickers: Sequence[str]) -> Mapping[str, float]: ...


class NeutralSentiment:
    """The default provider: no opinion on anything."""

    def scores(self, tickers: Sequence[str]) -> Mapping[str, float]:
        return {}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules made of one ticker; ``skipped`` says why it must not trade."""

    ticker: str
    rule_id: str
    action: Action
    instrument_type: InstrumentType
    strategy_type: StrategyType | None
    confidence: float
    reason: str
    features: dict[str, float]
    sentiment: float | None = None
    skipped: str | None = None


def intraday_confidence(
    features: Features, sentiment: np.ndarray, model: ConfidenceModel
) -> np.ndarray:
    """Confidence in [0, 1] of the intraday signal, whose direction is momentum's sign.

    The weighted mean of four components in [0, 1] — volume (ratio 1 → 0, volume_full →
    1), |momentum| / momentum_full, RSI beyond 50 and the distance from VWAP, the last two
    counted only in the signal's direction — plus sentiment_weight x sentiment toward it.
    0 when momentum is exactly 0 (no direction).
    """
    direction = np.sign(features.momentum)
    parts = (
        (model.weight_volume, (features.volume_ratio - 1.0) / (model.volume_full - 1.0)),
        (model.weight_momentum, np.abs(features.momentum) / model.momentum_full),
        (model.weight_rsi, direction * (features.rsi - 50.0) / model.rsi_span),
        (model.weight_vwap, direction * features.vwap_distance / model.vwap_full),
    )
    total = sum(weight for weight, _ in parts)
    base = sum(weight * np.clip(part, 0.0, 1.0) for weight, part in parts) / total
    score = np.clip(base + model.sentiment_weight * direction * sentiment, 0.0, 1.0)
    return np.where(direction != 0, score, 0.0)


def swing_confidence(
    features: Features, sentiment: np.ndarray, model: ConfidenceModel
) -> np.ndarray:
    """Confidence in [0, 1] of the multi-day trend: half its size (|return| / trend_full,
    capped), half its consistency, plus sentiment toward it. 0 with no trend."""
    direction = np.sign(features.trend_return)
    size = np.clip(np.abs(features.trend_return) / model.trend_full, 0.0, 1.0)
    score = 0.5 * size + 0.5 * features.trend_consistency
    score = np.clip(score + model.sentiment_weight * direction * sentiment, 0.0, 1.0)
    return np.where(direction != 0, score, 0.0)


def decide(
    tickers: Sequence[str],
    features: Features,
    rules: Rules | None = None,
    held: Collection[str] = frozenset(),
    sentiment: SentimentProvider | None = None,
) -> list[Decision]:
    """A decision for every ticker with a signal, in ``tickers`` order (the others: none).

    ``held`` is the set of tickers with a position to close (a bearish STOCK signal on
    any other is skipped unless shorting is allowed). ``sentiment`` defaults to neutral.
    """
    rules = rules or default_rules()
    if len(tickers) != len(features):
        raise InvalidMarketData(f"{len(tickers)} tickers but features for {len(features)}")
    mood = _sentiment(tickers, sentiment)
    f, day, swing, stock = features, rules.day_trade, rules.swing, rules.stock
    conf = intraday_confidence(f, mood, rules.confidence)
    trend_conf = swing_confidence(f, mood, rules.confidence)
    is_day = (
        day.enabled
        & (conf > day.min_confidence)
        & (f.volume_ratio > day.min_volume_ratio)
        & (np.abs(f.momentum) > day.min_abs_momentum)
        & (f.momentum != 0)
    )
    is_swing = (
        ~is_day
        & swing.enabled
        & (np.abs(f.trend_return) > swing.min_trend_return)
        & (f.trend_consistency >= swing.min_consistency)
        & (f.trend_return != 0)
    )
    is_stock = ~is_day & ~is_swing & (f.momentum != 0) & (conf >= stock.min_confidence)
    held = frozenset(held)
    decisions = []
    for i in np.flatnonzero(is_day | is_swing | is_stock):
        score = None if sentiment is None else float(mood[i])
        if is_day[i]:
            args = (RULE_DAY_TRADE, f.momentum[i], conf[i], StrategyType.DAY_TRADE)
        elif is_swing[i]:
            args = (RULE_SWING, f.trend_return[i], trend_conf[i], StrategyType.SWING_TRADE)
        else:
            args = (RULE_STOCK, f.momentum[i], conf[i], None)
        decisions.append(_decision(tickers[i], f.row(i), score, rules, held, *args))
    return decisions


def _decision(
    ticker: str,
    row: dict[str, float],
    sentiment: float | None,
    rules: Rules,
    held: frozenset[str],
    rule_id: str,
    move: float,
    confidence: float,
    strategy: StrategyType | None,
) -> Decision:
    action = Action.BUY if move > 0 else Action.SELL
    if rule_id == RULE_STOCK:
        kind = InstrumentType.STOCK
    else:
        kind = InstrumentType.CALL if action is Action.BUY else InstrumentType.PUT
    reason = _REASONS[rule_id](row, float(confidence), rules, kind)
    skipped = None
    naked_short = kind is InstrumentType.STOCK and action is Action.SELL and ticker not in held
    if naked_short and not rules.stock.allow_short:
        skipped = (
            f"bearish STOCK signal on {ticker} with no position to close:"
            " no shorting (stock.allow_short = false)"
        )
    return Decision(
        ticker=ticker,
        rule_id=rule_id,
        action=action,
        instrument_type=kind,
        strategy_type=strategy,
        confidence=float(confidence),
        reason=reason,
        features=row,
        sentiment=sentiment,
        skipped=skipped,
    )


def _day_reason(row: dict[str, float], conf: float, rules: Rules, kind: InstrumentType) -> str:
    p, day = rules.features, rules.day_trade
    return (
        f"intraday surge: volume {row['volume_ratio']:.2f}x the {p.volume_lookback}-bar mean,"
        f" momentum {row['momentum']:+.2%} over {p.momentum_minutes} min, confidence"
        f" {conf:.2f} > {day.min_confidence:.2f}: day-trade {kind.value}"
    )


def _swing_reason(row: dict[str, float], conf: float, rules: Rules, kind: InstrumentType) -> str:
    return (
        f"sustained trend: {row['trend_return']:+.2%} over {rules.features.trend_days}"
        f" sessions, {row['trend_consistency']:.0%} of them along, confidence {conf:.2f}:"
        f" swing-trade {kind.value}"
    )


def _stock_reason(row: dict[str, float], conf: float, rules: Rules, kind: InstrumentType) -> str:
    day = rules.day_trade
    short = []
    if not day.enabled:
        short.append("day trades disabled")
    if conf <= day.min_confidence:
        short.append(f"confidence {conf:.2f} <= {day.min_confidence:.2f}")
    if row["volume_ratio"] <= day.min_volume_ratio:
        short.append(f"volume_ratio {row['volume_ratio']:.2f} <= {day.min_volume_ratio:.2f}")
    if abs(row["momentum"]) <= day.min_abs_momentum:
        short.append(f"|momentum| {abs(row['momentum']):.2%} <= {day.min_abs_momentum:.2%}")
    view = "bullish" if row["momentum"] > 0 else "bearish"
    return (
        f"{view} intraday signal, momentum {row['momentum']:+.2%}, confidence {conf:.2f};"
        f" not a day trade ({'; '.join(short)}): {kind.value}"
    )


_REASONS = {RULE_DAY_TRADE: _day_reason, RULE_SWING: _swing_reason, RULE_STOCK: _stock_reason}


def to_recommendation(
    decision: Decision, bar_minute: datetime, now: datetime | None = None
) -> Recommendation:
    """The record of a decision, its id from (ticker, rule, bar minute).

    A skipped decision is recorded as REJECTED with the skip as its status_reason, so the
    user can see why nothing traded; only PENDING ones go on to a chain.
    """
    at = now or utcnow()
    features: dict[str, Any] = dict(decision.features)
    return Recommendation(
        id=recommendation_id(decision.ticker, decision.rule_id, bar_minute),
        ticker=decision.ticker,
        action=decision.action,
        instrument_type=decision.instrument_type,
        strategy_type=decision.strategy_type,
        confidence=decision.confidence,
        source=RecommendationSource.SCAN,
        features=features,
        sentiment=decision.sentiment,
        reason=decision.reason,
        rule_id=decision.rule_id,
        status=RecommendationStatus.REJECTED if decision.skipped else RecommendationStatus.PENDING,
        status_reason=decision.skipped,
        created_at=at,
        updated_at=utcnow(),  # the records' clock, the wall's: what recovery ages by
    )


def features_of(bars: Bars, rules: Rules | None = None) -> Features:
    """The features of ``bars`` with the rules file's parameters (lookbacks, periods)."""
    p = (rules or default_rules()).features
    return compute_features(
        bars,
        volume_lookback=p.volume_lookback,
        momentum_minutes=p.momentum_minutes,
        rsi_period=p.rsi_period,
        trend_days=p.trend_days,
    )


def recommend(
    tickers: Sequence[str],
    bars: Bars,
    bar_minute: datetime,
    rules: Rules | None = None,
    held: Collection[str] = frozenset(),
    sentiment: SentimentProvider | None = None,
    now: datetime | None = None,
) -> list[Recommendation]:
    """Bars of a watchlist → its recommendations for ``bar_minute`` (features, rules, ids)."""
    rules = rules or default_rules()
    decisions = decide(tickers, features_of(bars, rules), rules, held, sentiment)
    at = now or utcnow()
    return [to_recommendation(d, bar_minute, at) for d in decisions]


def _sentiment(tickers: Sequence[str], provider: SentimentProvider | None) -> np.ndarray:
    scores = {} if provider is None else provider.scores(tickers)
    mood = np.zeros(len(tickers))
    if not scores:
        return mood
    for i, ticker in enumerate(tickers):
        value = scores.get(ticker, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidMarketData(f"sentiment for {ticker} must be a number, got {value!r}")
        if not -1.0 <= value <= 1.0:  # False for NaN too
            raise InvalidMarketData(f"sentiment for {ticker} must be within [-1, 1], got {value}")
        mood[i] = value
    return mood
