"""Keep a recommendation's selection report once: ``recommendations.selection``.

select_contract judges every fetched contract and keeps why each was taken or not (the
chosen one with its Greeks, every rejected candidate with its reasons: ~11 KB for 80
contracts). It is written here, once, by the step that made it, instead of riding every
later step's message to be stored in the execution row or the refusal's explain.

Additive: one nullable column, no default, no rewrite on either dialect; downgrading
drops it (and with it only those reports).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "recommendations"
COLUMN = "selection"
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(TABLE, sa.Column(COLUMN, JSON_DOCUMENT))


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.drop_column(COLUMN)
    else:
        op.drop_column(TABLE, COLUMN)
