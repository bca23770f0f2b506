"""Keep why a recommendation ended as it did: ``recommendations.status_explain``.

A chain refused before the venue (a risk breach, the kill switch, no eligible contract,
zero size, a price that ran away) places no order, so it has no execution row to carry
its explain; ``status_reason`` kept one line of it. This nullable JSON column keeps the
whole explain (the selection report, the sizing, the risk check) next to the status.

Additive: one nullable column, no default, no rewrite on either dialect; downgrading
drops it (and with it only those explains).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "recommendations"
COLUMN = "status_explain"
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(TABLE, sa.Column(COLUMN, JSON_DOCUMENT))


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.drop_column(COLUMN)
    else:
        op.drop_column(TABLE, COLUMN)
