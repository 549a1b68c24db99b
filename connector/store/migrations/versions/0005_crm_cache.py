"""crm cache: a contact's company and open deals, shared by every process (crm_contact_links)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_contact_links',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('contact_id', sa.String(length=64), nullable=False),
        sa.Column('company_id', sa.String(length=64), nullable=True),
        sa.Column('deal_ids', sa.JSON(), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_contact_links')),
        sa.UniqueConstraint('crm', 'contact_id', name=op.f('uq_crm_contact_links_crm')),
    )


def downgrade() -> None:
    op.drop_table('crm_contact_links')
