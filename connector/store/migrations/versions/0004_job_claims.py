"""job claims: a `head` flag and partial indexes for constant-time claims, pause causes,
indexes for the retention of done jobs and old events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written as the connector's queries render them, so that each database matches them.
SQLITE_QUEUED_HEAD = sa.text("state = 'queued' AND head = 1")
POSTGRESQL_QUEUED_HEAD = sa.text("state = 'queued' AND head = true")
RUNNING = sa.text("state = 'running'")


def upgrade() -> None:
    op.add_column(
        'jobs', sa.Column('head', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    # Heads of the jobs already queued: every job without an ordering key, and the earliest
    # unfinished job of each key.
    op.execute(
        "UPDATE jobs SET head = true WHERE state IN ('queued', 'running') AND ("
        "ordering_key IS NULL OR id = (SELECT min(earlier.id) FROM jobs AS earlier "
        "WHERE earlier.ordering_key = jobs.ordering_key "
        "AND earlier.state IN ('queued', 'running')))"
    )
    op.drop_index('ix_jobs_claim', table_name='jobs')
    op.drop_index('ix_jobs_ordering', table_name='jobs')
    op.create_index('ix_jobs_ordering', 'jobs', ['ordering_key', 'state', 'id'], unique=False)
    op.create_index(
        'ix_jobs_heads', 'jobs', ['id'], unique=False,
        sqlite_where=SQLITE_QUEUED_HEAD, postgresql_where=POSTGRESQL_QUEUED_HEAD,
    )
    op.create_index(
        'ix_jobs_leases', 'jobs', ['lease_until'], unique=False,
        sqlite_where=RUNNING, postgresql_where=RUNNING,
    )
    for name, column, state in (
        ('ix_jobs_queued', 'created_at', 'queued'),
        ('ix_jobs_dead', 'id', 'dead'),
        ('ix_jobs_done', 'updated_at', 'done'),
    ):
        where = sa.text(f"state = '{state}'")
        op.create_index(name, 'jobs', [column], sqlite_where=where, postgresql_where=where)
    op.create_index('ix_events_received_at', 'events', ['received_at'], unique=False)
    op.add_column('targets', sa.Column('cause', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('targets', schema=None) as batch_op:
        batch_op.drop_column('cause')
    op.drop_index('ix_events_received_at', table_name='events')
    op.drop_index('ix_jobs_leases', table_name='jobs')
    op.drop_index('ix_jobs_heads', table_name='jobs')
    for name in ('ix_jobs_done', 'ix_jobs_dead', 'ix_jobs_queued'):
        op.drop_index(name, table_name='jobs')
    op.drop_index('ix_jobs_ordering', table_name='jobs')
    op.create_index('ix_jobs_ordering', 'jobs', ['ordering_key', 'state'], unique=False)
    op.create_index('ix_jobs_claim', 'jobs', ['state', 'run_after'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('head')
