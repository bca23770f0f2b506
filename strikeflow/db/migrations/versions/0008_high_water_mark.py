"""Keep each entry's high-water mark: ``dispatch_executions.high_water_mark``.

``manage_positions`` decides exits every minute from fresh quotes; a trailing stop
compares the mark with the highest mark seen since entry, which must outlive the
process that saw it (a worker restarts, another worker runs the next minute). The mark
is raised, never lowered, by one conditional UPDATE (``db.position_queries``).

Additive: a nullable column (NULL: no mark seen yet, the entry price stands in), no
existing row touched; downgrading drops it (the marks are relearned from the quotes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "dispatch_executions"
COLUMN = "high_water_mark"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column(COLUMN, sa.Numeric(18, 4), nullable=True))


def downgrade() -> None:
    op.drop_column(TABLE, COLUMN)  # SQLite 3.35+ drops a column in place
