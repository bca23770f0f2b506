"""The stock-only system: recommendations and dispatch_executions.

A frozen snapshot: the types are spelled out here rather than imported from tables.py, so
that later edits to the live schema cannot change what this revision builds. UtcDateTime
is imported because it is a stable type whose DDL is plain TIMESTAMP WITH TIME ZONE.
Every constraint and index is named in full (op.f), the same names the naming convention
of tables.py gives them.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from strikeflow.db.types import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER: SQLite's rowid
MONEY = sa.Numeric(18, 4)
QUANTITY = sa.Numeric(18, 6)


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "recommendations",
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
        _check("recommendations", "action", "action IN ('BUY', 'SELL')"),
        _check("recommendations", "instrument_type", "instrument_type IN ('STOCK', 'CALL', 'PUT')"),
        _check(
            "recommendations",
            "strategy_type",
            "strategy_type IS NULL OR strategy_type IN ('day_trade', 'swing_trade')",
        ),
        _check("recommendations", "confidence", "confidence >= 0 AND confidence <= 1"),
        _check("recommendations", "source", "source IN ('scan', 'manual', 'api')"),
        _check(
            "recommendations",
            "status",
            "status IN ('pending', 'dispatched', 'executed', 'fell_back', 'rejected', 'failed')",
        ),
    )
    op.create_index(op.f("ix_recommendations_created_at"), "recommendations", ["created_at"])
    op.create_index(op.f("ix_recommendations_status"), "recommendations", ["status"])

    op.create_table(
        "dispatch_executions",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
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
        sa.Column("closes_execution_id", ROW_ID),
        sa.Column("realized_pnl", MONEY),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_executions")),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_dispatch_executions_recommendation_id_recommendations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["closes_execution_id"],
            ["dispatch_executions.id"],
            name=op.f("fk_dispatch_executions_closes_execution_id_dispatch_executions"),
        ),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_dispatch_executions_client_order_id")),
        _check("dispatch_executions", "action", "action IN ('BUY', 'SELL')"),
        _check("dispatch_executions", "broker", "broker IN ('alpaca', 'simulated')"),
        _check(
            "dispatch_executions",
            "execution_mode",
            "execution_mode IN ('PAPER', 'LIVE', 'SIMULATED')",
        ),
        _check(
            "dispatch_executions",
            "status",
            "status IN ('submitted', 'accepted', 'filled', 'partially_filled', 'canceled',"
            " 'rejected', 'failed')",
        ),
        _check("dispatch_executions", "position_effect", "position_effect IN ('OPEN', 'CLOSE')"),
        _check("dispatch_executions", "quantity", "quantity > 0"),
    )
    op.create_index(
        op.f("ix_dispatch_executions_created_at"), "dispatch_executions", ["created_at"]
    )
    op.create_index(
        op.f("ix_dispatch_executions_recommendation_id"),
        "dispatch_executions",
        ["recommendation_id"],
    )


def downgrade() -> None:
    op.drop_table("dispatch_executions")
    op.drop_table("recommendations")
