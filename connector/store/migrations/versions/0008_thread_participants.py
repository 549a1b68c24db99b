"""group conversations: the participants of a group's thread (thread_participants)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'thread_participants',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('thread_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_thread_participants_thread_id_threads')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_thread_participants')),
        sa.UniqueConstraint('thread_id', 'phone', name=op.f('uq_thread_participants_thread_id')),
    )


def downgrade() -> None:
    op.drop_table('thread_participants')
