"""Keep what the position check finds: ``position_differences``.

Every minute of the session ``strikeflow.check_positions`` compares the position book
(entries' fills less their closes' fills) with the venue's positions; each symbol whose
quantities differ is one row here: when, the symbol, our quantity, the venue's, and the
kind (``venue_only``: delivered shares, a transfer; ``ours_only``: a liquidation or an
expiry the book has not recorded; ``quantity``: both hold it, in different amounts).

Additive: a new table, no existing row touched; downgrading drops it (and only the
differences recorded in it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from strikeflow.db.types import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "position_differences"
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
QUANTITY = sa.Numeric(18, 6)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("ours_qty", QUANTITY, nullable=False),
        sa.Column("venue_qty", QUANTITY, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_position_differences"),
        sa.CheckConstraint(
            "kind IN ('venue_only', 'ours_only', 'quantity')", name="ck_position_differences_kind"
        ),
    )
    op.create_index("ix_position_differences_checked_at", TABLE, ["checked_at"])


def downgrade() -> None:
    op.drop_index("ix_position_differences_checked_at", table_name=TABLE)
    op.drop_table(TABLE)
