"""The schema at the head revision, as SQLAlchemy Core tables.

The migrations build it (``strikeflow db upgrade``); ``alembic check`` proves that these
definitions and the migrated database agree. Money is NUMERIC, never float.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from strikeflow.db.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
# SQLite's INTEGER PRIMARY KEY is its rowid alias only when spelled INTEGER.
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")
MONEY = Numeric(18, 4)
QUANTITY = Numeric(18, 6)
TIMESTAMP = UtcDateTime()

recommendations = Table(
    "recommendations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("ticker", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("instrument_type", Text, nullable=False, server_default="STOCK"),
    Column("strategy_type", Text),
    Column("confidence", Float, nullable=False),
    Column("features", JSON_DOCUMENT, nullable=False),
    Column("sentiment", Float),
    Column("reason", Text),
    Column("rule_id", Text),
    Column("source", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("status_reason", Text),
    Column("updated_at", TIMESTAMP, nullable=False),
    Column("status_explain", JSON_DOCUMENT),  # revision 0003: why it ended so, in full
    Column("selection", JSON_DOCUMENT),  # revision 0004: select_contract's report
    Column("sized_order", JSON_DOCUMENT),  # revision 0011: the order its sizing step decided
    CheckConstraint("action IN ('BUY', 'SELL')", name="action"),
    CheckConstraint("instrument_type IN ('STOCK', 'CALL', 'PUT')", name="instrument_type"),
    CheckConstraint(
        "strategy_type IS NULL OR strategy_type IN ('day_trade', 'swing_trade')",
        name="strategy_type",
    ),
    CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence"),
    CheckConstraint(  # revisions 0006 (the closes' sources) and 0009 (the venue's)
        "source IN ('scan', 'manual', 'api', 'exit', 'manual_close', 'venue', 'exercise')",
        name="source",
    ),
    CheckConstraint(
        "status IN ('pending', 'dispatched', 'executed', 'fell_back', 'rejected', 'failed',"
        " 'unfilled')",
        name="status",
    ),
    Index("ix_recommendations_created_at", "created_at"),
    Index("ix_recommendations_status", "status"),
)

dispatch_executions = Table(
    "dispatch_executions",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column(
        "recommendation_id",
        Text,
        ForeignKey("recommendations.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("ticker", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("quantity", QUANTITY, nullable=False),  # shares, or contracts on option rows
    Column("client_order_id", Text, nullable=False, unique=True),
    Column("broker_order_id", Text),
    Column("broker", Text, nullable=False),
    Column("execution_mode", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("filled_qty", QUANTITY),
    Column("filled_avg_price", MONEY),
    Column("notional", MONEY),
    Column("explain_json", JSON_DOCUMENT, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("submitted_at", TIMESTAMP),
    Column("filled_at", TIMESTAMP),
    Column("updated_at", TIMESTAMP, nullable=False),
    Column("trading_day", Date, nullable=False),
    Column("position_effect", Text, nullable=False, server_default="OPEN"),
    Column("closes_execution_id", ROW_ID, ForeignKey("dispatch_executions.id")),
    Column("realized_pnl", MONEY),
    # -- options support (revision 0002) --
    Column("instrument_type", Text, nullable=False, server_default="STOCK"),
    Column("strike_price", Numeric(10, 2)),
    Column("expiration_date", Date),
    Column("contracts", Integer),
    Column("premium_paid", Numeric(10, 2)),
    Column("delta", Numeric(10, 4)),
    Column("theta", Numeric(10, 4)),
    Column("gamma", Numeric(10, 4)),
    Column("vega", Numeric(10, 4)),
    Column("implied_volatility", Numeric(10, 4)),
    Column("option_symbol", Text),
    Column("strategy_type", Text),
    # revision 0008: the highest mark seen since entry (manage_positions' trailing stop)
    Column("high_water_mark", MONEY),
    # revision 0010: shares one contract delivers, NULL for a standard one (100) or a share
    Column("multiplier", Integer),
    # revision 0012: a worked order (services.working_orders): how often it was replaced,
    # and what its fill kept against the far side and paid against the mid at decision
    Column("replaces", Integer),
    Column("improvement", MONEY),
    Column("improvement_of_half_spread", Numeric(10, 4)),
    Column("slippage_vs_mid", MONEY),
    CheckConstraint("action IN ('BUY', 'SELL')", name="action"),
    CheckConstraint("broker IN ('alpaca', 'simulated')", name="broker"),
    CheckConstraint("execution_mode IN ('PAPER', 'LIVE', 'SIMULATED')", name="execution_mode"),
    CheckConstraint(
        "status IN ('submitted', 'accepted', 'filled', 'partially_filled', 'canceled',"
        " 'rejected', 'failed', 'replaced')",  # revision 0012: replaced
        name="status",
    ),
    CheckConstraint("position_effect IN ('OPEN', 'CLOSE')", name="position_effect"),
    CheckConstraint("instrument_type IN ('STOCK', 'CALL', 'PUT')", name="instrument_type"),
    CheckConstraint(
        "instrument_type = 'STOCK' OR (strike_price IS NOT NULL AND expiration_date IS NOT NULL"
        " AND option_symbol IS NOT NULL AND contracts IS NOT NULL AND contracts > 0)",
        name="option_fields",
    ),
    CheckConstraint("quantity > 0", name="quantity"),
    Index("ix_dispatch_executions_created_at", "created_at"),
    Index("ix_dispatch_executions_recommendation_id", "recommendation_id"),
    Index("ix_dispatch_executions_instrument_type", "instrument_type"),
    Index("ix_dispatch_executions_expiration_date", "expiration_date"),
    Index("ix_dispatch_executions_strategy_type", "strategy_type"),
)

# revision 0007: what the position check found the venue holding that the book does not
# (or the reverse), one row per symbol per check (services.position_check).
position_differences = Table(
    "position_differences",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("checked_at", TIMESTAMP, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("ours_qty", QUANTITY, nullable=False),
    Column("venue_qty", QUANTITY, nullable=False),
    Column("kind", Text, nullable=False),
    CheckConstraint("kind IN ('venue_only', 'ours_only', 'quantity')", name="kind"),
    Index("ix_position_differences_checked_at", "checked_at"),
)

# revision 0009: the venue's account activities already read (services.venue_events),
# one row per activity id, with what reading it recorded.
venue_activities_seen = Table(
    "venue_activities_seen",
    metadata,
    Column("id", Text, primary_key=True),
    Column("activity_type", Text, nullable=False),
    Column("occurred_at", TIMESTAMP, nullable=False),
    Column("processed_at", TIMESTAMP, nullable=False),
    Column("recorded", Text, nullable=False),
    Column("execution_ids", JSON_DOCUMENT, nullable=False),
    Index("ix_venue_activities_seen_occurred_at", "occurred_at"),
)
