"""Closes: two new recommendation sources, and the day's closes in the daily summary.

Additive (no existing row is rewritten, and each keeps its meaning):

- ``recommendations.source`` may also be ``exit`` (an exit rule fired on a held entry)
  or ``manual_close`` (a close asked for at a shell or by the ``strikeflow.close``
  task). The CHECK ``ck_recommendations_source`` is widened: on PostgreSQL dropped and
  added again (validating the existing rows, which all pass); on SQLite by copying the
  table (batch mode) into the frozen definition below, foreign keys checked after the
  copy (``strikeflow.db.migrate``). Downgrading refuses while any row has a new source.
- ``daily_options_summary`` gains ``closes`` (CLOSE rows with a fill) and
  ``realized_pnl`` (the sum over the day's closes, 0 when none). Its other columns are
  0005's, unchanged. ``options_performance_by_strategy`` already reads closes linked to
  their entries with a realized P&L (0005), which the closing chain now writes: it is
  recreated as it was, as is ``active_options_positions``.

Revision ID: 0006
Revises: 0005
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

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "recommendations"
CHECK = "ck_recommendations_source"
OLD_SOURCES = "'scan', 'manual', 'api'"
NEW_SOURCES = f"{OLD_SOURCES}, 'exit', 'manual_close'"
STATUSES = "'pending', 'dispatched', 'executed', 'fell_back', 'rejected', 'failed', 'unfilled'"
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

HELD = (
    "COALESCE({row}.filled_qty, CASE WHEN {row}.status = 'filled' THEN {row}.quantity ELSE 0 END)"
)
DAILY = "daily_options_summary"
DAILY_OPTIONS_SUMMARY = """
SELECT d.trading_day, d.instrument_type,
       COUNT(*) AS executions,
       COALESCE(SUM(d.contracts), 0) AS contracts,
       COALESCE(SUM(CASE WHEN d.position_effect = 'OPEN'
                         THEN d.premium_paid * {held} * 100
                         ELSE 0 END), 0) AS premium_spent,
       SUM(CASE WHEN {held} > 0 THEN 1 ELSE 0 END) AS fills,
       SUM(CASE WHEN d.status = 'rejected' THEN 1 ELSE 0 END) AS rejections,
       SUM(CASE WHEN d.position_effect = 'CLOSE' AND {held} > 0 THEN 1 ELSE 0 END) AS closes,
       COALESCE(SUM(CASE WHEN d.position_effect = 'CLOSE' THEN d.realized_pnl END), 0)
           AS realized_pnl
FROM dispatch_executions d
WHERE d.instrument_type IN ('CALL', 'PUT')
GROUP BY d.trading_day, d.instrument_type""".format(held=HELD.format(row="d"))


def _revision_0005():
    path = Path(__file__).with_name("0005_venue_final_word.py")
    spec = importlib.util.spec_from_file_location("strikeflow_migration_0005", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _views(daily: str) -> dict[str, str]:
    views = dict(_revision_0005().VIEWS)
    views[DAILY] = daily
    return views


def _recommendations(sources: str) -> sa.Table:
    """``recommendations`` as of 0005, with ``sources`` allowed: a frozen snapshot,
    which SQLite's copy builds the new table from."""
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
        sa.CheckConstraint(f"source IN ({sources})", name=CHECK),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_recommendations_status"),
        sa.Index("ix_recommendations_created_at", "created_at"),
        sa.Index("ix_recommendations_status", "status"),
    )


def _dialect() -> str:
    return op.get_context().dialect.name


def _allow(sources: str) -> None:
    if _dialect() == "sqlite":
        with op.batch_alter_table(TABLE, recreate="always", copy_from=_recommendations(sources)):
            pass
    else:
        op.drop_constraint(op.f(CHECK), TABLE, type_="check")
        op.create_check_constraint(op.f(CHECK), TABLE, f"source IN ({sources})")


def _create_views(views: dict[str, str]) -> None:
    before = _revision_0005()
    dialect = _dialect()
    for view, select in views.items():
        body = select.format(
            today=before.TODAY[dialect], days_to_expiry=before.DAYS_TO_EXPIRY[dialect]
        )
        op.execute(f"CREATE VIEW {view} AS{body}")


def _drop_views(views: dict[str, str]) -> None:
    for view in reversed(views):
        op.execute(f"DROP VIEW {view}")


def upgrade() -> None:
    views = _views(DAILY_OPTIONS_SUMMARY)
    _drop_views(views)
    _allow(NEW_SOURCES)
    _create_views(views)


def downgrade() -> None:
    _refuse_to_lose_closes()
    views = _views(_revision_0005().VIEWS[DAILY])
    _drop_views(views)
    _allow(OLD_SOURCES)
    _create_views(views)


def _refuse_to_lose_closes() -> None:
    """Below 0006 a close's source is not a source: refuse rather than rewrite history."""
    if op.get_context().as_sql:
        return
    count = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM recommendations WHERE source IN ('exit', 'manual_close')")
    )
    if count:
        raise CommandError(
            f"{count} recommendation(s) are closes (source exit or manual_close), which a"
            " schema below 0006 does not know: delete or archive them before downgrading"
        )
