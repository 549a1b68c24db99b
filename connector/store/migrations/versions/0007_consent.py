"""consent: every opt-out and opt-in of a number (consent_changes)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'consent_changes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('opted_out', sa.Boolean(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('actor', sa.String(length=255), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_consent_changes_message_id_messages')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_changes')),
    )
    with op.batch_alter_table('consent_changes', schema=None) as batch_op:
        batch_op.create_index('ix_consent_changes_number_at', ['number', 'at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consent_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_changes_number_at')
    op.drop_table('consent_changes')
