"""The venue's final word: the ``unfilled`` state, and views of what is held by its fills.

Two changes, both additive (no existing row is rewritten, and each keeps its meaning):

- ``recommendations.status`` may also be ``unfilled``: the venue accepted the order,
  then it ended (expired at the close, canceled, rejected later) with nothing filled.
  The CHECK ``ck_recommendations_status`` is widened to allow it. On PostgreSQL that is
  a DROP and an ADD of the constraint (validating the existing rows, which all pass).
  SQLite cannot alter a constraint, so there the table is copied (batch mode) into the
  frozen definition below; ``strikeflow.db.migrate`` turns the foreign keys off for the
  copy and checks them after it. Downgrading refuses while any row is ``unfilled``.
- The views hold what was filled, not what ended ``filled``: a day order partly filled
  and then canceled or expired at the close still holds its filled contracts. An entry
  is held while its filled quantity (``filled_qty``; a ``filled`` row without one, its
  contracts) exceeds what its closing executions filled; ``contracts`` in
  ``active_options_positions`` is that held quantity. ``daily_options_summary`` counts
  premium over the filled quantity of every OPEN row and ``fills`` as rows with a fill;
  ``options_performance_by_strategy`` takes closes with any fill. For rows whose status
  is ``filled`` with ``filled_qty`` equal to their quantity (every row the old views
  listed) the answers are the same as 0002's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql

from strikeflow.db.types import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "recommendations"
CHECK = "ck_recommendations_status"
OLD_STATUSES = "'pending', 'dispatched', 'executed', 'fell_back', 'rejected', 'failed'"
NEW_STATUSES = f"{OLD_STATUSES}, 'unfilled'"
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# What an execution row holds: its fills (a ``filled`` row that never had filled_qty
# recorded, its whole quantity). {row} is the alias.
HELD = (
    "COALESCE({row}.filled_qty, CASE WHEN {row}.status = 'filled' THEN {row}.quantity ELSE 0 END)"
)
CLOSED = (
    "(SELECT COALESCE(SUM({held}), 0) FROM dispatch_executions c"
    " WHERE c.closes_execution_id = e.id AND c.position_effect = 'CLOSE')"
).format(held=HELD.format(row="c"))

TODAY = {
    "postgresql": "CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "date('now')",
}
DAYS_TO_EXPIRY = {
    "postgresql": "e.expiration_date - CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "CAST(julianday(e.expiration_date) - julianday(date('now')) AS INTEGER)",
}
VIEWS = {
    "active_options_positions": """
SELECT e.id AS execution_id, e.recommendation_id, e.ticker, e.instrument_type,
       e.option_symbol, e.strike_price, e.expiration_date,
       CAST({held} - {closed} AS INTEGER) AS contracts, e.premium_paid,
       e.delta, e.theta, e.implied_volatility, e.strategy_type, e.execution_mode,
       e.filled_at, {{days_to_expiry}} AS days_to_expiry
FROM dispatch_executions e
WHERE e.instrument_type IN ('CALL', 'PUT')
  AND e.position_effect = 'OPEN'
  AND {held} - {closed} > 0
  AND e.expiration_date >= {{today}}""".format(held=HELD.format(row="e"), closed=CLOSED),
    "options_performance_by_strategy": """
SELECT COALESCE(e.strategy_type, c.strategy_type) AS strategy_type,
       COUNT(*) AS trades,
       SUM(CASE WHEN c.realized_pnl > 0 THEN 1 ELSE 0 END) AS wins,
       SUM(CASE WHEN c.realized_pnl < 0 THEN 1 ELSE 0 END) AS losses,
       ROUND(1.0 * SUM(CASE WHEN c.realized_pnl > 0 THEN 1 ELSE 0 END) / COUNT(*), 4)
           AS win_rate,
       SUM(c.realized_pnl) AS total_realized_pnl,
       ROUND(AVG(c.realized_pnl), 4) AS avg_realized_pnl
FROM dispatch_executions c
JOIN dispatch_executions e ON c.closes_execution_id = e.id
WHERE c.position_effect = 'CLOSE'
  AND {held} > 0
  AND c.instrument_type IN ('CALL', 'PUT')
  AND c.realized_pnl IS NOT NULL
GROUP BY COALESCE(e.strategy_type, c.strategy_type)""".format(held=HELD.format(row="c")),
    "daily_options_summary": """
SELECT d.trading_day, d.instrument_type,
       COUNT(*) AS executions,
       COALESCE(SUM(d.contracts), 0) AS contracts,
       COALESCE(SUM(CASE WHEN d.position_effect = 'OPEN'
                         THEN d.premium_paid * {held} * 100
                         ELSE 0 END), 0) AS premium_spent,
       SUM(CASE WHEN {held} > 0 THEN 1 ELSE 0 END) AS fills,
       SUM(CASE WHEN d.status = 'rejected' THEN 1 ELSE 0 END) AS rejections
FROM dispatch_executions d
WHERE d.instrument_type IN ('CALL', 'PUT')
GROUP BY d.trading_day, d.instrument_type""".format(held=HELD.format(row="d")),
}


def _recommendations(statuses: str) -> sa.Table:
    """``recommendations`` as of 0004, with ``statuses`` allowed: a frozen snapshot (the
    types spelled out, as in 0001), which SQLite's copy builds the new table from."""
    meta = sa.MetaData()
    return sa.Table(
        TABLE,
        meta,
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("ticker", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("instrument_type", sa.Text(), nullable=False, server_default="STOCK"),
        sa.Column("strategy_type", sa.Text()),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("features", JSON_DOCUMENT, nullable=False),
        sa.Column("sentiment", sa.Float()),
        sa.Column("reason", sa.Text()),
        sa.Column("rule_id", sa.Text()),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("status_reason", sa.Text()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("status_explain", JSON_DOCUMENT),
        sa.Column("selection", JSON_DOCUMENT),
        sa.PrimaryKeyConstraint("id", name="pk_recommendations"),
        sa.CheckConstraint("action IN ('BUY', 'SELL')", name="ck_recommendations_action"),
        sa.CheckConstraint(
            "instrument_type IN ('STOCK', 'CALL', 'PUT')",
            name="ck_recommendations_instrument_type",
        ),
        sa.CheckConstraint(
            "strategy_type IS NULL OR strategy_type IN ('day_trade', 'swing_trade')",
            name="ck_recommendations_strategy_type",
        ),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name="ck_recommendations_confidence"
        ),
        sa.CheckConstraint("source IN ('scan', 'manual', 'api')", name="ck_recommendations_source"),
        sa.CheckConstraint(f"status IN ({statuses})", name=CHECK),
        sa.Index("ix_recommendations_created_at", "created_at"),
        sa.Index("ix_recommendations_status", "status"),
    )


def _dialect() -> str:
    return op.get_context().dialect.name


def _allow(statuses: str) -> None:
    if _dialect() == "sqlite":
        with op.batch_alter_table(TABLE, recreate="always", copy_from=_recommendations(statuses)):
            pass
    else:
        op.drop_constraint(op.f(CHECK), TABLE, type_="check")
        op.create_check_constraint(op.f(CHECK), TABLE, f"status IN ({statuses})")


def _create_views(views: dict[str, str]) -> None:
    dialect = _dialect()
    for view, select in views.items():
        body = select.format(today=TODAY[dialect], days_to_expiry=DAYS_TO_EXPIRY[dialect])
        op.execute(f"CREATE VIEW {view} AS{body}")


def _drop_views() -> None:
    for view in reversed(VIEWS):
        op.execute(f"DROP VIEW {view}")


def _views_of_0002() -> dict[str, str]:
    """0002's definitions, read from that revision's file: the downgrade restores them
    exactly."""
    path = Path(__file__).with_name("0002_options_support.py")
    spec = importlib.util.spec_from_file_location("strikeflow_migration_0002", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.VIEWS)


def upgrade() -> None:
    _drop_views()
    _allow(NEW_STATUSES)
    _create_views(VIEWS)


def downgrade() -> None:
    _refuse_to_lose_unfilled()
    _drop_views()
    _allow(OLD_STATUSES)
    _create_views(_views_of_0002())


def _refuse_to_lose_unfilled() -> None:
    """Below 0005 ``unfilled`` is not a state: refuse rather than rewrite what happened."""
    if op.get_context().as_sql:
        return
    count = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM recommendations WHERE status = 'unfilled'")
    )
    if count:
        raise CommandError(
            f"{count} recommendation(s) are unfilled, a state below 0005 does not know:"
            " delete or archive them before downgrading below 0005"
        )
