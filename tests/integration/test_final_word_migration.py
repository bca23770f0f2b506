"""Migration 0005 on PostgreSQL and SQLite: ``unfilled`` becomes a state, the views hold
what filled, no existing row changes, and the way back refuses to lose an unfilled one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from alembic.util import CommandError
from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from strikeflow.db import migrate
from strikeflow.db.engine import engine_for
from strikeflow.db.tables import dispatch_executions, recommendations

OPENED = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
FAR = date(2099, 1, 16)  # an expiry the views' "today" never passes


@pytest.fixture(params=("postgresql", "sqlite"))
def at_0004(request, create_database) -> str:
    url = create_database(request.param)
    migrate.upgrade(url, "0004")
    return url


def _recommendation(rec_id: str, status: str) -> dict:
    return {
        "id": rec_id,
        "created_at": OPENED,
        "ticker": "SPY",
        "action": "BUY",
        "instrument_type": "CALL",
        "strategy_type": "day_trade",
        "confidence": 0.7,
        "features": {"volume_ratio": 2.1},
        "source": "scan",
        "status": status,
        "status_reason": f"{status} before 0005",
        "updated_at": OPENED,
        "status_explain": {"risk": {"allowed": True}},
        "selection": {"chosen": {"symbol": "SPY990116C00600000"}},
    }


def _entry(cid: str, rec_id: str, status: str, filled: int | None) -> dict:
    return {
        "recommendation_id": rec_id,
        "ticker": "SPY",
        "action": "BUY",
        "quantity": Decimal(5),
        "client_order_id": cid,
        "broker": "alpaca",
        "execution_mode": "PAPER",
        "status": status,
        "filled_qty": None if filled is None else Decimal(filled),
        "filled_avg_price": Decimal("1.2500") if filled else None,
        "explain_json": {"order_cost": "625.00"},
        "created_at": OPENED,
        "updated_at": OPENED,
        "trading_day": OPENED.date(),
        "position_effect": "OPEN",
        "instrument_type": "CALL",
        "strike_price": Decimal("600.00"),
        "expiration_date": FAR,
        "contracts": 5,
        "premium_paid": Decimal("1.25"),
        "option_symbol": "SPY990116C00600000",
        "strategy_type": "day_trade",
    }


def _book(url: str) -> None:
    with engine_for(url).begin() as conn:
        for rec_id, status in (
            ("r-exec", "executed"),
            ("r-fell", "fell_back"),
            ("r-rej", "rejected"),
        ):
            conn.execute(insert(recommendations).values(_recommendation(rec_id, status)))
        conn.execute(insert(dispatch_executions).values(_entry("full", "r-exec", "filled", 5)))
        conn.execute(insert(dispatch_executions).values(_entry("part", "r-exec", "canceled", 3)))
        conn.execute(insert(dispatch_executions).values(_entry("none", "r-fell", "canceled", 0)))


def _rows(url: str, table) -> list[dict]:
    """Every row with the columns the table has at this revision (later ones add some)."""
    with engine_for(url).connect() as conn:
        present = {c["name"] for c in inspect(conn).get_columns(table.name)}
        columns = [c for c in table.columns if c.name in present]
        query = select(*columns).order_by(table.c.id)
        return [dict(r._mapping) for r in conn.execute(query)]


def _held(url: str) -> dict[str, int]:
    query = text(
        "SELECT e.client_order_id, p.contracts FROM active_options_positions p"
        " JOIN dispatch_executions e ON e.id = p.execution_id"
    )
    with engine_for(url).connect() as conn:
        return {row[0]: int(row[1]) for row in conn.execute(query)}


def _set_unfilled(url: str, rec_id: str) -> None:
    _set_unfilled_as(url, rec_id, "unfilled")


def test_the_upgrade_keeps_every_row_and_lets_unfilled_in(at_0004):
    url = at_0004
    _book(url)
    before = (_rows(url, recommendations), _rows(url, dispatch_executions))
    assert _held(url) == {"full": 5}  # 0002's view: status 'filled' only
    with pytest.raises(IntegrityError, match="ck_recommendations_status"):
        _set_unfilled(url, "r-exec")
    migrate.upgrade(url, "0005")
    assert migrate.current(url) == "0005"
    assert (_rows(url, recommendations), _rows(url, dispatch_executions)) == before
    assert _held(url) == {"full": 5, "part": 3}  # the fill of a canceled order is held
    _set_unfilled(url, "r-fell")
    with pytest.raises(IntegrityError, match="ck_recommendations_status"):
        _set_unfilled_as(url, "r-rej", "unheard_of")
    with engine_for(url).connect() as conn:
        indexes = {i["name"] for i in inspect(conn).get_indexes("recommendations")}
    assert indexes == {"ix_recommendations_created_at", "ix_recommendations_status"}
    migrate.upgrade(url)
    migrate.check(url)  # the copied table is still tables.py's, at the head


def _set_unfilled_as(url: str, rec_id: str, status: str) -> None:
    with engine_for(url).begin() as conn:
        conn.execute(
            update(recommendations).where(recommendations.c.id == rec_id).values(status=status)
        )


def test_foreign_keys_still_hold_after_the_copy(at_0004):
    url = at_0004
    _book(url)
    migrate.upgrade(url)
    orphan = _entry("orphan", "no-such-recommendation", "accepted", None)
    with pytest.raises(IntegrityError), engine_for(url).begin() as conn:
        conn.execute(insert(dispatch_executions).values(orphan))
    with engine_for(url).connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM dispatch_executions")).scalar_one()
    assert count == 3


def test_the_way_back_refuses_to_lose_an_unfilled_recommendation(at_0004):
    url = at_0004
    _book(url)
    migrate.upgrade(url, "0005")
    _set_unfilled(url, "r-fell")
    with pytest.raises(CommandError, match="1 recommendation"):
        migrate.downgrade(url, "0004")
    assert migrate.current(url) == "0005"
    _set_unfilled_as(url, "r-fell", "fell_back")
    before = (_rows(url, recommendations), _rows(url, dispatch_executions))
    migrate.downgrade(url, "0004")
    assert migrate.current(url) == "0004"
    assert (_rows(url, recommendations), _rows(url, dispatch_executions)) == before
    assert _held(url) == {"full": 5}  # 0002's views again
    with pytest.raises(IntegrityError, match="ck_recommendations_status"):
        _set_unfilled(url, "r-exec")
    migrate.upgrade(url)
    assert _held(url) == {"full": 5, "part": 3}


def test_an_empty_database_goes_up_and_down_through_0005(at_0004):
    url = at_0004
    migrate.upgrade(url, "0005")
    migrate.downgrade(url, "0004")
    migrate.upgrade(url, "0005")
    assert migrate.current(url) == "0005"
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
