"""What the venue did on its own: ``venue_activities_seen``, and two recommendation sources.

``strikeflow.record_venue_events`` reads the venue's account activities (expiry,
exercise, cash settlement, liquidation fills) and records what the venue closed as CLOSE
executions linked to their entries, and the shares an exercise delivered as a STOCK
entry. Each activity is read once: its id is kept here with when it happened, when it
was read, what reading it recorded and the executions it wrote.

Additive (no existing row is rewritten):

- the table ``venue_activities_seen``; downgrading drops it;
- ``recommendations.source`` may also be ``venue`` (a close the venue made) or
  ``exercise`` (the shares an exercise delivered). The CHECK is widened as 0006 widened
  it: on PostgreSQL dropped and added again, on SQLite by copying the table into 0006's
  frozen definition. Downgrading refuses while any row has one of these sources.

Revision ID: 0009
Revises: 0008
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

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "venue_activities_seen"
INDEX = "ix_venue_activities_seen_occurred_at"
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _revision_0006():
    path = Path(__file__).with_name("0006_closing_chain.py")
    spec = importlib.util.spec_from_file_location("strikeflow_migration_0006", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _widen(sources: str) -> None:
    before = _revision_0006()
    views = before._views(before.DAILY_OPTIONS_SUMMARY)
    before._drop_views(views)
    before._allow(sources)
    before._create_views(views)


def upgrade() -> None:
    _widen(f"{_revision_0006().NEW_SOURCES}, 'venue', 'exercise'")
    op.create_table(
        TABLE,
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("activity_type", sa.Text(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("processed_at", UtcDateTime(), nullable=False),
        sa.Column("recorded", sa.Text(), nullable=False),
        sa.Column("execution_ids", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_venue_activities_seen"),
    )
    op.create_index(INDEX, TABLE, ["occurred_at"])


def downgrade() -> None:
    _refuse_to_lose_venue_records()
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)
    _widen(_revision_0006().NEW_SOURCES)


def _refuse_to_lose_venue_records() -> None:
    """Below 0009 the venue's sources are not sources: refuse rather than rewrite history."""
    if op.get_context().as_sql:
        return
    count = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM recommendations WHERE source IN ('venue', 'exercise')")
    )
    if count:
        raise CommandError(
            f"{count} recommendation(s) record what the venue did (source venue or"
            " exercise), which a schema below 0009 does not know: delete or archive them"
            " before downgrading"
        )
