"""Worked option orders: the ``replaced`` status and what working an order saved.

Additive (no existing row is rewritten, and each keeps its meaning):

- ``dispatch_executions.status`` may also be ``replaced``: an order the venue replaced
  by another (``PATCH /v2/orders/{id}``), final for that order. The CHECK
  ``ck_dispatch_executions_status`` is widened: on PostgreSQL dropped and added again
  (validating the existing rows, which all pass); on SQLite by copying the table (batch
  mode) into the frozen definition below, foreign keys checked after the copy
  (``strikeflow.db.migrate``). The copy drops what hangs on the old table: the views
  (0006's, recreated as they were) and 0002's option triggers (recreated as they were).
  Downgrading refuses while any row is ``replaced``.
- Four nullable columns, NULL for every order not worked: ``replaces`` (how many times
  the entry's order was replaced while it was worked), ``improvement`` (money kept
  against the far side at decision, on what filled), ``improvement_of_half_spread``
  (that per unit, as a share of the half-spread at decision) and ``slippage_vs_mid``
  (money paid against the mid at decision). Downgrading drops them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql

from strikeflow.db.types import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "dispatch_executions"
CHECK = "ck_dispatch_executions_status"
OLD_STATUSES = (
    "'submitted', 'accepted', 'filled', 'partially_filled', 'canceled', 'rejected', 'failed'"
)
NEW_STATUSES = f"{OLD_STATUSES}, 'replaced'"
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MONEY = sa.Numeric(18, 4)
QUANTITY = sa.Numeric(18, 6)
INDEXED = ("created_at", "recommendation_id", "instrument_type", "expiration_date", "strategy_type")


def _work_columns() -> list[sa.Column]:
    """New Column objects each time: a Column belongs to one table once added."""
    return [
        sa.Column("replaces", sa.Integer()),
        sa.Column("improvement", MONEY),
        sa.Column("improvement_of_half_spread", sa.Numeric(10, 4)),
        sa.Column("slippage_vs_mid", MONEY),
    ]


def _revision(number: str, name: str):
    path = Path(__file__).with_name(f"{number}_{name}.py")
    spec = importlib.util.spec_from_file_location(f"strikeflow_migration_{number}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _executions(statuses: str, work: bool) -> sa.Table:
    """``dispatch_executions`` as of 0011 (with the work columns when ``work``), with
    ``statuses`` allowed: a frozen snapshot, which SQLite's copy builds the new table
    from. The option rules are 0002's triggers on SQLite, not CHECKs: recreated after."""
    meta = sa.MetaData()
    sa.Table("recommendations", meta, sa.Column("id", sa.Text(), primary_key=True))
    return sa.Table(
        TABLE,
        meta,
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("recommendation_id", sa.Text(), nullable=False),
        sa.Column("ticker", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("client_order_id", sa.Text(), nullable=False),
        sa.Column("broker_order_id", sa.Text()),
        sa.Column("broker", sa.Text(), nullable=False),
        sa.Column("execution_mode", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("filled_qty", QUANTITY),
        sa.Column("filled_avg_price", MONEY),
        sa.Column("notional", MONEY),
        sa.Column("explain_json", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("submitted_at", UtcDateTime()),
        sa.Column("filled_at", UtcDateTime()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("position_effect", sa.Text(), nullable=False, server_default="OPEN"),
        sa.Column("closes_execution_id", sa.Integer()),
        sa.Column("realized_pnl", MONEY),
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
        sa.Column("high_water_mark", MONEY),
        sa.Column("multiplier", sa.Integer()),
        *(_work_columns() if work else ()),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_executions"),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name="fk_dispatch_executions_recommendation_id_recommendations",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["closes_execution_id"],
            ["dispatch_executions.id"],
            name="fk_dispatch_executions_closes_execution_id_dispatch_executions",
        ),
        sa.UniqueConstraint("client_order_id", name="uq_dispatch_executions_client_order_id"),
        sa.CheckConstraint("action IN ('BUY', 'SELL')", name="ck_dispatch_executions_action"),
        sa.CheckConstraint(
            "broker IN ('alpaca', 'simulated')", name="ck_dispatch_executions_broker"
        ),
        sa.CheckConstraint(
            "execution_mode IN ('PAPER', 'LIVE', 'SIMULATED')",
            name="ck_dispatch_executions_execution_mode",
        ),
        sa.CheckConstraint(f"status IN ({statuses})", name=CHECK),
        sa.CheckConstraint(
            "position_effect IN ('OPEN', 'CLOSE')", name="ck_dispatch_executions_position_effect"
        ),
        sa.CheckConstraint("quantity > 0", name="ck_dispatch_executions_quantity"),
        *(sa.Index(f"ix_{TABLE}_{name}", name) for name in INDEXED),
    )


def _dialect() -> str:
    return op.get_context().dialect.name


def _sqlite_copy(statuses: str, work: bool) -> None:
    """SQLite: the table copied into its frozen definition, with what hangs on it
    (0006's views, 0002's triggers) dropped before and made again after."""
    views = _revision("0006", "closing_chain")
    options = _revision("0002", "options_support")
    current = views._views(views.DAILY_OPTIONS_SUMMARY)
    views._drop_views(current)
    for rule in options.RULES:
        for event in options.TRIGGER_EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS {options._trigger(rule, event)}")
    with op.batch_alter_table(TABLE, recreate="always", copy_from=_executions(statuses, work)):
        pass
    for rule, condition in options.RULES.items():
        for event in options.TRIGGER_EVENTS:
            op.execute(
                f"CREATE TRIGGER {options._trigger(rule, event)} BEFORE {event} ON {TABLE}"
                f" FOR EACH ROW WHEN NOT ({condition.format(row='NEW.')})"
                f" BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {rule}'); END"
            )
    views._create_views(current)


def upgrade() -> None:
    if _dialect() == "sqlite":
        for column in _work_columns():
            op.add_column(TABLE, column)
        _sqlite_copy(NEW_STATUSES, work=True)
        return
    for column in _work_columns():
        op.add_column(TABLE, column)
    op.drop_constraint(op.f(CHECK), TABLE, type_="check")
    op.create_check_constraint(op.f(CHECK), TABLE, f"status IN ({NEW_STATUSES})")


def downgrade() -> None:
    _refuse_to_lose_replaced()
    if _dialect() == "sqlite":
        if sqlite3.sqlite_version_info < (3, 35, 0):
            _sqlite_copy(OLD_STATUSES, work=False)
            return
        _sqlite_copy(OLD_STATUSES, work=True)
        for column in reversed(_work_columns()):
            op.drop_column(TABLE, column.name)
        return
    op.drop_constraint(op.f(CHECK), TABLE, type_="check")
    op.create_check_constraint(op.f(CHECK), TABLE, f"status IN ({OLD_STATUSES})")
    for column in reversed(_work_columns()):
        op.drop_column(TABLE, column.name)


def _refuse_to_lose_replaced() -> None:
    """Below 0012 ``replaced`` is not a status: refuse rather than rewrite history."""
    if op.get_context().as_sql:
        return
    count = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM dispatch_executions WHERE status = 'replaced'")
    )
    if count:
        raise CommandError(
            f"{count} execution(s) are replaced orders, a status a schema below 0012 does"
            " not know: delete or archive them before downgrading"
        )
