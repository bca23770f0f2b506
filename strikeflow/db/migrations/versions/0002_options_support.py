"""Add options support: option columns, their indexes, two rules and three views.

Additive: it rewrites no existing data. ``instrument_type`` arrives NOT NULL with a
server default of 'STOCK', which is how the existing rows become stock rows (a constant
default: no UPDATE, and no table rewrite on PostgreSQL ≥ 11 nor on SQLite).

The two rules, ``ck_dispatch_executions_instrument_type`` and
``ck_dispatch_executions_option_fields``:

- PostgreSQL: CHECK constraints added with ALTER TABLE ... ADD CONSTRAINT, which validates
  the existing rows (all STOCK, so they pass) and rewrites none.
- SQLite: ALTER TABLE cannot add a constraint; batch mode would copy the whole table, so it
  is not used here. The same conditions are enforced by BEFORE INSERT and BEFORE UPDATE
  triggers that ``RAISE(ABORT, 'CHECK constraint failed: <name>')``: the same text a
  native CHECK gives, so the repository maps both to the field by the constraint's name.
  A trigger fires WHEN NOT (condition), which, like a CHECK, lets a NULL result pass.

The views:

- ``active_options_positions``: filled option entries not closed by a filled CLOSE and
  expiring today or later, with ``days_to_expiry``. "Today" is the UTC date on both
  dialects, so a position expiring today stays listed until midnight UTC (19:00 or 20:00
  in New York), after the 16:00 expiry.
- ``options_performance_by_strategy``: filled option closes with a realized P&L, joined to
  the entry they close, per strategy (the entry's, else the close's): trades, wins, losses,
  ``win_rate`` (a decimal fraction, never integer division), total and average P&L.
- ``daily_options_summary``: per stored ``trading_day`` (the New York date, set at insert,
  so no time zone arithmetic in SQL) and instrument type: executions, contracts over all
  the day's rows, ``premium_spent`` in dollars (per-share premium × filled contracts × 100,
  over filled or partially filled OPEN rows), fills and rejections.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "dispatch_executions"


def _option_columns() -> list[sa.Column]:
    """New Column objects each time: a Column belongs to one table once added."""
    return [
        sa.Column("instrument_type", sa.Text(), nullable=False, server_default="STOCK"),
        sa.Column("strike_price", sa.Numeric(10, 2)),
        sa.Column("expiration_date", sa.Date()),
        sa.Column("contracts", sa.Integer()),
        sa.Column("premium_paid", sa.Numeric(10, 2)),
        sa.Column("delta", sa.Numeric(10, 4)),
        sa.Column("theta", sa.Numeric(10, 4)),
        sa.Column("gamma", sa.Numeric(10, 4)),
        sa.Column("vega", sa.Numeric(10, 4)),
        sa.Column("implied_volatility", sa.Numeric(10, 4)),
        sa.Column("option_symbol", sa.Text()),
        sa.Column("strategy_type", sa.Text()),
    ]


INDEXED = ("instrument_type", "expiration_date", "strategy_type")

# name -> condition; {row} is "" in a CHECK and "NEW." in a SQLite trigger.
RULES = {
    "ck_dispatch_executions_instrument_type": "{row}instrument_type IN ('STOCK', 'CALL', 'PUT')",
    "ck_dispatch_executions_option_fields": (
        "{row}instrument_type = 'STOCK' OR ({row}strike_price IS NOT NULL"
        " AND {row}expiration_date IS NOT NULL AND {row}option_symbol IS NOT NULL"
        " AND {row}contracts IS NOT NULL AND {row}contracts > 0)"
    ),
}
TRIGGER_EVENTS = ("INSERT", "UPDATE")

# The UTC date, and the whole days from it to e.expiration_date.
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
       e.option_symbol, e.strike_price, e.expiration_date, e.contracts, e.premium_paid,
       e.delta, e.theta, e.implied_volatility, e.strategy_type, e.execution_mode,
       e.filled_at, {days_to_expiry} AS days_to_expiry
FROM dispatch_executions e
WHERE e.instrument_type IN ('CALL', 'PUT')
  AND e.position_effect = 'OPEN'
  AND e.status = 'filled'
  AND e.expiration_date >= {today}
  AND NOT EXISTS (
      SELECT 1 FROM dispatch_executions c
      WHERE c.closes_execution_id = e.id
        AND c.position_effect = 'CLOSE'
        AND c.status = 'filled'
  )""",
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
  AND c.status = 'filled'
  AND c.instrument_type IN ('CALL', 'PUT')
  AND c.realized_pnl IS NOT NULL
GROUP BY COALESCE(e.strategy_type, c.strategy_type)""",
    "daily_options_summary": """
SELECT trading_day, instrument_type,
       COUNT(*) AS executions,
       COALESCE(SUM(contracts), 0) AS contracts,
       COALESCE(SUM(CASE WHEN position_effect = 'OPEN'
                          AND status IN ('filled', 'partially_filled')
                         THEN premium_paid * COALESCE(filled_qty, contracts) * 100
                         ELSE 0 END), 0) AS premium_spent,
       SUM(CASE WHEN status = 'filled' THEN 1 ELSE 0 END) AS fills,
       SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) AS rejections
FROM dispatch_executions
WHERE instrument_type IN ('CALL', 'PUT')
GROUP BY trading_day, instrument_type""",
}


def _dialect() -> str:
    return op.get_context().dialect.name


def _trigger(rule: str, event: str) -> str:
    return f"trg_{rule.removeprefix('ck_')}_{event.lower()}"


def upgrade() -> None:
    dialect = _dialect()
    for column in _option_columns():
        op.add_column(TABLE, column)
    for name in INDEXED:
        op.create_index(op.f(f"ix_{TABLE}_{name}"), TABLE, [name])
    if dialect == "sqlite":
        for rule, condition in RULES.items():
            for event in TRIGGER_EVENTS:
                op.execute(
                    f"CREATE TRIGGER {_trigger(rule, event)} BEFORE {event} ON {TABLE}"
                    f" FOR EACH ROW WHEN NOT ({condition.format(row='NEW.')})"
                    f" BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {rule}'); END"
                )
    else:
        for rule, condition in RULES.items():
            op.create_check_constraint(op.f(rule), TABLE, condition.format(row=""))
    for view, select in VIEWS.items():
        body = select.format(today=TODAY[dialect], days_to_expiry=DAYS_TO_EXPIRY[dialect])
        op.execute(f"CREATE VIEW {view} AS{body}")


def downgrade() -> None:
    _refuse_to_lose_option_rows()
    dialect = _dialect()
    for view in reversed(VIEWS):
        op.execute(f"DROP VIEW {view}")
    if dialect == "sqlite":
        for rule in reversed(RULES):
            for event in TRIGGER_EVENTS:
                op.execute(f"DROP TRIGGER {_trigger(rule, event)}")
    else:
        for rule in reversed(RULES):
            op.drop_constraint(op.f(rule), TABLE, type_="check")
    for name in reversed(INDEXED):  # before their columns: SQLite refuses to drop those
        op.drop_index(op.f(f"ix_{TABLE}_{name}"), table_name=TABLE)
    names = [column.name for column in reversed(_option_columns())]
    if dialect == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        # No ALTER TABLE ... DROP COLUMN before SQLite 3.35: copy the table instead
        # (strikeflow.db.migrate turns foreign keys off for that, then checks them).
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            for name in names:
                batch.drop_column(name)
    else:
        for name in names:
            op.drop_column(TABLE, name)


def _refuse_to_lose_option_rows() -> None:
    """Below 0002 an option execution would silently become a stock row: refuse instead."""
    if op.get_context().as_sql:
        return
    count = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM dispatch_executions WHERE instrument_type <> 'STOCK'")
    )
    if count:
        raise CommandError(
            f"{count} option execution(s) would lose their option fields:"
            " delete or archive them before downgrading below 0002"
        )
