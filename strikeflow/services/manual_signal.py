"""A recommendation typed by a person (``strikeflow signal``, ``strikeflow.dispatch``).

Checked in full before anything is stored, so a bad argument costs nothing: the action
is the view on the underlying (BUY bullish, SELL bearish) and an option's right must
agree with it, because the pipeline buys options to open and the right carries the
direction: a BUY expressed as a PUT, or a SELL as a CALL, is a contradiction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.models import InstrumentType, StrategyType
from strikeflow.domain.records import Action, Recommendation, RecommendationSource

DEFAULT_CONFIDENCE = 0.8
CONTRADICTIONS = {
    (Action.BUY, InstrumentType.PUT): "BUY is bullish and a PUT is bearish: use --action SELL",
    (Action.SELL, InstrumentType.CALL): "SELL is bearish and a CALL is bullish: use --action BUY",
}


def manual_recommendation(
    ticker: str,
    action: str,
    instrument: str = InstrumentType.STOCK.value,
    strategy: str | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    reason: str | None = None,
    recommendation_id: str | None = None,
    now: datetime | None = None,
) -> Recommendation:
    """A validated manual Recommendation; InvalidRecord names the argument at fault."""
    side = _choice("action", action, Action)
    kind = _choice("instrument", instrument, InstrumentType)
    if (side, kind) in CONTRADICTIONS:
        raise InvalidRecord("instrument", CONTRADICTIONS[side, kind])
    style = None if strategy is None else _choice("strategy", strategy, StrategyType)
    if style is None and kind is not InstrumentType.STOCK:
        style = StrategyType.DAY_TRADE  # an option needs a DTE window
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise InvalidRecord("confidence", f"must be a number in [0, 1], got {confidence!r}")
    at = now or datetime.now(UTC)
    # Recommendation itself refuses a bad ticker or a confidence outside [0, 1].
    return Recommendation(
        id=recommendation_id or f"manual-{uuid.uuid4().hex}",
        ticker=str(ticker).strip().upper(),
        action=side,
        instrument_type=kind,
        strategy_type=style,
        confidence=float(confidence),
        source=RecommendationSource.MANUAL,
        reason=reason or "manual signal",
        created_at=at,
        updated_at=at,
    )


def _choice(name: str, value: object, kind: type) -> Any:
    try:
        return kind(value.upper() if kind is not StrategyType else value.lower())  # type: ignore[union-attr]
    except (ValueError, AttributeError):
        allowed = ", ".join(m.value for m in kind)
        raise InvalidRecord(name, f"must be one of {allowed}; got {value!r}") from None
