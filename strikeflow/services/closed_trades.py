"""The closed trades in the record: each close that filled, with its entry and what
closed it (``domain.trade_stats`` makes the figures of them)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from strikeflow.domain.enums import InstrumentType, PositionEffect, RecommendationSource
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.trade_stats import ClosedTrade, in_close_order
from strikeflow.services.queries import MAX_DAY_EXECUTIONS, Records

# A close no exit rule fired and the venue did not make: who asked for it.
ASKED_BY = {"scan": "sell signal", "manual_close": "manual close"}
STOCK = "stock"  # the strategy of a stock entry that names none


def close_rule(rec: Recommendation | None) -> str:
    """What closed a position: the exit rule that fired, the venue's own event (an
    expiry, an exercise), or who asked."""
    if rec is None:
        return "close"
    features = dict(rec.features or {})
    exit_ = features.get("exit")
    if isinstance(exit_, dict) and exit_.get("rule"):
        return str(exit_["rule"])
    if rec.source is RecommendationSource.VENUE and features.get("reason"):
        return str(features["reason"])
    return ASKED_BY.get(rec.source.value, rec.source.value)


def strategy_of(entry: Execution) -> str:
    if entry.strategy_type is not None:
        return entry.strategy_type.value
    return STOCK if entry.instrument_type is InstrumentType.STOCK else "option"


def closed_trades(records: Records) -> list[ClosedTrade]:
    """Every close that filled and realized P&L against a recorded entry, oldest first."""
    return trades_of(records, every_execution(records))


def every_execution(records: Records, batch: int = MAX_DAY_EXECUTIONS) -> list[Execution]:
    """Every execution recorded, oldest first: a year's backtest holds more than a day's
    bound, and a trade left out would change every figure."""
    limit = batch
    while True:
        newest_first = records.executions.recent(limit=limit)
        if len(newest_first) < limit:
            return list(reversed(newest_first))
        limit *= 4


def trades_of(records: Records, executions: Sequence[Execution]) -> list[ClosedTrade]:
    entries = {e.id: e for e in executions if e.id is not None}
    trades = []
    for close in executions:
        if close.position_effect is not PositionEffect.CLOSE or not close.filled_qty:
            continue
        entry = entries.get(close.closes_execution_id)
        if entry is None or close.realized_pnl is None:
            continue
        closed_at = close.filled_at or close.updated_at
        trades.append(
            ClosedTrade(
                symbol=close.option_symbol or close.ticker,
                strategy=strategy_of(entry),
                rule=close_rule(records.recommendations.get(close.recommendation_id)),
                opened_at=entry.filled_at or entry.created_at,
                closed_at=closed_at,
                quantity=close.filled_qty,
                entry_price=entry.filled_avg_price,
                exit_price=close.filled_avg_price,
                pnl=Decimal(close.realized_pnl),
            )
        )
    return in_close_order(trades)


__all__ = ["ASKED_BY", "close_rule", "closed_trades", "every_execution", "strategy_of", "trades_of"]
