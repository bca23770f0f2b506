"""The three views (as migration 0005 defines them), as ``strikeflow positions`` and
``report`` read them.

``active_options_positions`` judges "active" and ``days_to_expiry`` by the database's
UTC date. A day on a simulated clock (the demo's, a backtest's) is not that date, so
``ReportQueries.view`` can read the same rows as of another day (``as_of``): the view's
conditions, with that day in place of the database's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Numeric,
    Select,
    Text,
    bindparam,
    case,
    cast,
    column,
    func,
    select,
    table,
    type_coerce,
)

from strikeflow.db.repositories import Repository
from strikeflow.db.tables import dispatch_executions
from strikeflow.db.types import UtcDateTime
from strikeflow.domain.errors import InvalidRecord

# The views' columns, typed so both dialects return the same Python types
# (SQLite hands back dates as text and NUMERIC as float otherwise).
_OPTION_GREEK = Numeric(10, 4)
VIEW_COLUMNS: dict[str, dict[str, Any]] = {
    "active_options_positions": {
        "execution_id": Integer(),
        "recommendation_id": Text(),
        "ticker": Text(),
        "instrument_type": Text(),
        "option_symbol": Text(),
        "strike_price": Numeric(10, 2),
        "expiration_date": Date(),
        "contracts": Integer(),
        "premium_paid": Numeric(10, 2),
        "delta": _OPTION_GREEK,
        "theta": _OPTION_GREEK,
        "implied_volatility": _OPTION_GREEK,
        "strategy_type": Text(),
        "execution_mode": Text(),
        "filled_at": UtcDateTime(),
        "days_to_expiry": Integer(),
    },
    "options_performance_by_strategy": {
        "strategy_type": Text(),
        "trades": Integer(),
        "wins": Integer(),
        "losses": Integer(),
        "win_rate": Numeric(10, 4),
        "total_realized_pnl": Numeric(18, 4),
        "avg_realized_pnl": Numeric(18, 4),
    },
    "daily_options_summary": {
        "trading_day": Date(),
        "instrument_type": Text(),
        "executions": Integer(),
        "contracts": Integer(),
        "premium_spent": Numeric(18, 4),
        "fills": Integer(),
        "rejections": Integer(),
        "closes": Integer(),
        "realized_pnl": Numeric(18, 4),
    },
}
VIEW_ORDER = {
    "active_options_positions": ("expiration_date", "execution_id"),
    "options_performance_by_strategy": ("strategy_type",),
    "daily_options_summary": ("trading_day", "instrument_type"),
}


class ReportQueries(Repository):
    """The three views, as lists of dicts with the same Python types on both dialects."""

    def view(self, name: str, as_of: date | None = None) -> list[dict[str, Any]]:
        """The view's rows; ``active_options_positions`` as of ``as_of`` when given (the
        other two do not depend on the day)."""
        if name not in VIEW_COLUMNS:
            known = ", ".join(VIEW_COLUMNS)
            raise InvalidRecord("view", f"must be one of {known}; got {name!r}")
        if as_of is not None and name == "active_options_positions":
            return self._positions_as_of(as_of)
        cols = [column(col, kind) for col, kind in VIEW_COLUMNS[name].items()]
        by_name = {c.name: c for c in cols}
        query = (
            select(*cols)
            .select_from(table(name))
            .order_by(*(by_name[key] for key in VIEW_ORDER[name]))
        )
        with self._reads.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def _positions_as_of(self, day: date) -> list[dict[str, Any]]:
        if not isinstance(day, date) or isinstance(day, datetime):
            raise InvalidRecord("as_of", f"must be a date, got {day!r}")
        with self._reads.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(_POSITIONS_AS_OF, {"day": day})]
        for row in rows:
            row["days_to_expiry"] = (row["expiration_date"] - day).days
        return rows


def _positions_as_of_query() -> Select:
    """The view's SELECT (migration 0005) with the day a parameter; days_to_expiry is
    computed by the caller, the same on both dialects."""
    entry, close = dispatch_executions.alias("e"), dispatch_executions.alias("c")
    closed = (
        select(func.coalesce(func.sum(_held(close)), 0))
        .where(close.c.closes_execution_id == entry.c.id, close.c.position_effect == "CLOSE")
        .scalar_subquery()
    )
    held = _held(entry) - closed
    kinds = VIEW_COLUMNS["active_options_positions"]
    computed = ("execution_id", "days_to_expiry")  # the row id; the caller's arithmetic
    sources = {"execution_id": entry.c.id, "contracts": cast(held, Integer())}
    sources |= {name: entry.c[name] for name in kinds if name not in (*computed, "contracts")}
    return (
        select(*(type_coerce(col, kinds[name]).label(name) for name, col in sources.items()))
        .where(
            entry.c.instrument_type.in_(("CALL", "PUT")),
            entry.c.position_effect == "OPEN",
            held > 0,
            entry.c.expiration_date >= bindparam("day", type_=Date()),
        )
        .order_by(entry.c.expiration_date, entry.c.id)
    )


def _held(rows):
    """What an execution holds (migration 0005's HELD): its fills, or a ``filled``
    row's whole quantity when none were recorded."""
    c = rows.c
    return func.coalesce(c.filled_qty, case((c.status == "filled", c.quantity), else_=0))


_POSITIONS_AS_OF = _positions_as_of_query()
