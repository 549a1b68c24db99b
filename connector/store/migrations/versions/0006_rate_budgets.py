"""rate budgets: one row per bucket shared by every process (rate_budgets)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_budgets',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rate_budgets'))
    )


def downgrade() -> None:
    op.drop_table('rate_budgets')
