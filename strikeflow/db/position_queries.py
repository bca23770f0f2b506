"""The position book's rows and the position check's differences. Implements
``services.query_ports.PositionRecords``.

The book itself is ``domain.position_book``: this module reads the executions it is
made from (entries holding a fill, the closes that name them) and writes what the
check found (``position_differences``, migration 0007).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Update, bindparam, insert, or_, select, update

from strikeflow.db.repositories import Repository
from strikeflow.db.tables import dispatch_executions, position_differences, recommendations
from strikeflow.domain.enums import Action, InstrumentType
from strikeflow.domain.position_book import (
    BookEntry,
    CloseFill,
    PositionDifference,
    held_quantity,
    open_lots,
)
from strikeflow.services.ports import HeldGreeks, ManagedEntry

MAX_DIFFERENCES = 10_000

_E = dispatch_executions.c
_ENTRY_COLUMNS = (
    _E.id,
    _E.recommendation_id,
    _E.ticker,
    _E.action,
    _E.instrument_type,
    _E.option_symbol,
    _E.status,
    _E.quantity,
    _E.filled_qty,
    _E.filled_avg_price,
    _E.premium_paid,
    _E.broker,
    _E.expiration_date,
    _E.strategy_type,
    _E.filled_at,
    _E.multiplier,
)
_ENTRIES = (
    select(*_ENTRY_COLUMNS)
    .where(_E.position_effect == "OPEN", (_E.filled_qty > 0) | (_E.status == "filled"))
    .order_by(_E.id)
)
_CLOSES = (
    select(_E.closes_execution_id, _E.status, _E.quantity, _E.filled_qty)
    .where(_E.position_effect == "CLOSE", _E.closes_execution_id.is_not(None))
    .order_by(_E.id)
)
_R = recommendations.c
# The spot alone is read out of the selection report (JSON_EXTRACT on SQLite, ->> on
# PostgreSQL): the report lists every rejected candidate, and every held entry's is read
# every minute of the session.
_KEPT = select(
    _E.id, _E.high_water_mark, _R.selection["spot"].as_string().label("entry_spot")
).join(recommendations, _R.id == _E.recommendation_id)
_RAISE = (
    update(dispatch_executions)
    .where(
        _E.id == bindparam("entry_id"),
        or_(_E.high_water_mark.is_(None), _E.high_water_mark < bindparam("mark")),
    )
    .values(high_water_mark=bindparam("mark"))
)


@functools.cache
def _greeks_update(names: tuple[str, ...]) -> Update:
    """``UPDATE dispatch_executions SET <names> WHERE id = :entry_id`` for an executemany
    of rows keyed ``entry_id`` and ``new_<name>``."""
    return (
        update(dispatch_executions)
        .where(_E.id == bindparam("entry_id"))
        .values({name: bindparam(f"new_{name}") for name in names})
    )


GREEK_PLACES = Decimal("0.0001")  # NUMERIC(10, 4)
GREEK_LIMIT = Decimal(10) ** 6
_D = position_differences.c
_RECENT = select(_D.checked_at, _D.symbol, _D.ours_qty, _D.venue_qty).order_by(
    _D.checked_at.desc(), _D.id.desc()
)


class PositionQueries(Repository):
    def book_rows(self) -> tuple[list[BookEntry], list[CloseFill]]:
        with self._reads.connect() as conn:
            entries = [_entry(row) for row in conn.execute(_ENTRIES)]
            closes = [
                CloseFill(
                    int(row.closes_execution_id),
                    held_quantity(row.status, _decimal(row.quantity), _decimal(row.filled_qty)),
                )
                for row in conn.execute(_CLOSES)
            ]
        return [e for e in entries if e.filled_qty > 0], [c for c in closes if c.filled_qty > 0]

    def held_entries(self, as_of: date) -> list[ManagedEntry]:
        """``services.ports.ManagedBook``: the open lots, each with its high-water mark
        and the underlying's spot at selection (the recommendation's selection report)."""
        entries, closes = self.book_rows()
        lots = open_lots(entries, closes, as_of)
        if not lots:
            return []
        ids = [lot.entry.execution_id for lot in lots]
        with self._reads.connect() as conn:
            kept = {row.id: row for row in conn.execute(_KEPT.where(_E.id.in_(ids)))}
        found = []
        for lot in lots:
            row = kept.get(lot.entry.execution_id)
            found.append(
                ManagedEntry(
                    lot,
                    high_water=None if row is None else _decimal(row.high_water_mark),
                    entry_spot=None if row is None else _spot(row.entry_spot),
                )
            )
        return found

    def raise_high_water(self, marks: Mapping[int, Decimal]) -> None:
        """One conditional UPDATE per entry: two writers never lower a mark."""
        if not marks:
            return
        rows = [{"entry_id": int(i), "mark": Decimal(m)} for i, m in sorted(marks.items())]
        with self._transaction() as conn:
            conn.execute(_RAISE, rows)

    def refresh_greeks(self, greeks: Mapping[int, HeldGreeks]) -> None:
        """The held entries' latest Greeks: one executemany per set of figures present
        (a figure the snapshot lacks keeps the stored one)."""
        batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for entry_id, g in sorted(greeks.items()):
            values = {
                name: rounded
                for name, figure in (
                    ("delta", g.delta),
                    ("theta", g.theta),
                    ("implied_volatility", g.implied_volatility),
                )
                if (rounded := _greek(figure)) is not None
            }
            if values:
                row = {"entry_id": entry_id} | {f"new_{n}": v for n, v in values.items()}
                batches.setdefault(tuple(values), []).append(row)
        if not batches:
            return
        with self._transaction() as conn:
            for names, rows in batches.items():
                conn.execute(_greeks_update(names), rows)

    def record_differences(self, found: Sequence[PositionDifference], at: datetime) -> int:
        if not found:
            return 0
        rows = [
            {
                "checked_at": at,
                "symbol": d.symbol,
                "ours_qty": d.ours,
                "venue_qty": d.venue,
                "kind": d.kind.value,
            }
            for d in found
        ]
        with self._transaction() as conn:
            conn.execute(insert(position_differences), rows)
        return len(rows)

    def recent_differences(self, limit: int = 100) -> list[tuple[datetime, PositionDifference]]:
        limit = max(1, min(int(limit), MAX_DIFFERENCES))
        with self._reads.connect() as conn:
            return [
                (
                    row.checked_at,
                    PositionDifference(row.symbol, _decimal(row.ours_qty), _decimal(row.venue_qty)),
                )
                for row in conn.execute(_RECENT.limit(limit))
            ]


def _entry(row: Any) -> BookEntry:
    price = row.filled_avg_price if row.filled_avg_price is not None else row.premium_paid
    return BookEntry(
        execution_id=int(row.id),
        recommendation_id=row.recommendation_id,
        symbol=row.option_symbol or row.ticker,
        underlying=row.ticker,
        instrument=InstrumentType(row.instrument_type),
        action=Action(row.action),
        filled_qty=held_quantity(row.status, _decimal(row.quantity), _decimal(row.filled_qty)),
        fill_price=_decimal(price),
        venue_held=row.broker == "alpaca",
        expiration=row.expiration_date,
        strategy=row.strategy_type,
        filled_at=row.filled_at,
        contract_multiplier=row.multiplier,
    )


def _decimal(value: Any) -> Any:
    """NUMERIC as Decimal on both dialects (SQLite may hand back a float)."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _spot(spot: Any) -> Decimal | None:
    """The underlying's spot a selection report kept (``domain.selection``), if any."""
    if isinstance(spot, bool) or not isinstance(spot, int | float | str):
        return None
    try:
        value = Decimal(str(spot))
    except ArithmeticError:
        return None
    return value if value.is_finite() and value > 0 else None


def _greek(value: Decimal | None) -> Decimal | None:
    """A Greek fit for NUMERIC(10, 4); None for one missing or out of its range."""
    if value is None or not value.is_finite() or abs(value) >= GREEK_LIMIT:
        return None
    return value.quantize(GREEK_PLACES)
