"""Keep each option entry's contract multiplier: ``dispatch_executions.multiplier``.

A standard US equity option delivers 100 shares, but a contract adjusted after a split,
a merger or a special dividend delivers what its terms say (Alpaca lists it as the
contract's ``multiplier``). Sizing already used the contract's own figure; the P&L of
its close, the position book's cost and mark, and the portfolio's Greeks must use the
same figure, so the entry row keeps it.

Additive: a nullable column. NULL is what every existing row means: a standard contract
(100), or a share (1). Downgrading drops it (adjusted entries then read as standard).
The record (``domain.records.Execution``) refuses a value that is not a whole number
of shares above zero.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "dispatch_executions"
COLUMN = "multiplier"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column(COLUMN, sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column(TABLE, COLUMN)
