"""A recommendation typed by a person (``strikeflow signal``, ``strikeflow.dispatch``).

Checked in full before anything is stored, so a bad argument costs nothing: the action
is the view on the underlying (BUY bullish, SELL bearish) and an option's right must
agree with it, because the pipeline buys options to open and the right carries the
direction: a BUY expressed as a PUT, or a SELL as a CALL, is a contradiction.

Text is taken as typed, ASCII only: ``str.upper`` maps some non-ASCII letters onto
ASCII ones ("ſell" → "SELL", "ﬁ" → "FI"), which would turn a typo into a trade. The
pipeline chooses the contract and sizes the order itself, so a payload naming a
quantity, an option symbol or an expiration is refused by name, not half-honoured.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from strikeflow.domain.enums import Action, InstrumentType, RecommendationSource, StrategyType
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.records import MAX_ID, Recommendation, shown

DEFAULT_CONFIDENCE = 0.8
CONTRADICTIONS = {
    (Action.BUY, InstrumentType.PUT): "BUY is bullish and a PUT is bearish: use --action SELL",
    (Action.SELL, InstrumentType.CALL): "SELL is bearish and a CALL is bullish: use --action BUY",
}
REQUIRED_FIELDS = ("ticker", "action")
OPTIONAL_FIELDS = ("instrument", "strategy", "confidence", "reason")
MANUAL_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
CHOSEN_BY_THE_PIPELINE = {
    "quantity": "the order is sized against buying power",
    "qty": "the order is sized against buying power",
    "contracts": "the order is sized against buying power",
    "option_symbol": "the contract is selected from the chain",
    "symbol": "the contract is selected from the chain",
    "expiration": "the contract is selected from the chain",
    "expiration_date": "the contract is selected from the chain",
    "strike": "the contract is selected from the chain",
}
# A root followed by a YYMMDD date: an OCC option symbol (well formed or not), not a ticker.
OCC_LIKE = re.compile(r"[A-Z]{1,6} *[0-9]{6}")


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
    symbol = _ticker(ticker)
    side = _choice("action", action, Action)
    kind = _choice("instrument", instrument, InstrumentType)
    if (side, kind) in CONTRADICTIONS:
        raise InvalidRecord("instrument", CONTRADICTIONS[side, kind])
    style = None if strategy is None else _choice("strategy", strategy, StrategyType)
    if style is None and kind is not InstrumentType.STOCK:
        style = StrategyType.DAY_TRADE  # an option needs a DTE window
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise InvalidRecord("confidence", f"must be a number in [0, 1], got {shown(confidence)}")
    if isinstance(confidence, int) and confidence not in (0, 1):  # float() of 10**400 raises
        raise InvalidRecord("confidence", f"must be within [0, 1], got {shown(confidence)}")
    at = now or datetime.now(UTC)
    # Recommendation itself refuses a confidence outside [0, 1] and over-long text.
    return Recommendation(
        id=recommendation_id or f"manual-{uuid.uuid4().hex}",
        ticker=symbol,
        action=side,
        instrument_type=kind,
        strategy_type=style,
        confidence=float(confidence),
        source=RecommendationSource.MANUAL,
        reason="manual signal" if reason is None or reason == "" else reason,
        created_at=at,
        updated_at=datetime.now(UTC),  # the records' clock, the wall's: what recovery ages by
    )


def manual_recommendation_from(fields: Mapping[str, Any]) -> Recommendation:
    """The Recommendation a payload (the dispatch task's keyword arguments) describes;
    unknown and missing fields are refused by name, like bad values."""
    unknown = sorted(str(name) for name in fields if name not in MANUAL_FIELDS)
    for name in unknown:
        if name in CHOSEN_BY_THE_PIPELINE:
            raise InvalidRecord(name, f"is not taken from a signal: {CHOSEN_BY_THE_PIPELINE[name]}")
    if unknown:
        shown = ", ".join(repr(name[:64]) for name in unknown[:5])
        allowed = ", ".join(sorted(MANUAL_FIELDS))
        raise InvalidRecord("fields", f"unknown: {shown} (allowed: {allowed})")
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise InvalidRecord(missing[0], "is required")
    return manual_recommendation(**{name: fields[name] for name in MANUAL_FIELDS if name in fields})


def stored_recommendation_id(value: object) -> str:
    """``value`` if it can name a stored recommendation; InvalidRecord otherwise (a
    number or a list would otherwise reach the database as a query parameter)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise InvalidRecord(
            "recommendation_id", f"must be a string of 1-{MAX_ID} characters, got {shown(value)}"
        )
    return value


def _ticker(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRecord("ticker", f"must be a string, got {shown(value)}")
    if not value.isascii():
        raise InvalidRecord("ticker", f"must be ASCII letters, got {shown(value)}")
    symbol = value.strip().upper()
    if OCC_LIKE.match(symbol):
        raise InvalidRecord(
            "ticker",
            f"looks like an option symbol ({shown(value)}): give the underlying "
            "and --instrument CALL or PUT; the pipeline selects the contract",
        )
    return symbol  # Recommendation checks its shape


def _choice(name: str, value: object, kind: type) -> Any:
    if isinstance(value, str) and value.isascii():
        try:
            return kind(value.upper() if kind is not StrategyType else value.lower())
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in kind)
    raise InvalidRecord(name, f"must be one of {allowed}; got {shown(value)}")
