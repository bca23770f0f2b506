"""Keep the order size_position decided: ``recommendations.sized_order``.

submit_order places an order only as it was decided: the step that sized it (and ran
the risk check on it) stores the order it stands for (client_order_id, symbol, side,
quantity, type, limit, position effect, the entry a close closes), and submit_order
compares the message it received with it. A message that differs (forged, or altered in
transit) is refused, never sent: broker access is not order access.

Additive: one nullable column, no default, no rewrite on either dialect; NULL is what
every existing row means (no order decided). Downgrading drops it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "recommendations"
COLUMN = "sized_order"
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(TABLE, sa.Column(COLUMN, JSON_DOCUMENT))


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.drop_column(COLUMN)
    else:
        op.drop_column(TABLE, COLUMN)
