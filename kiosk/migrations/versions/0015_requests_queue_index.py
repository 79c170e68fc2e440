"""Requests: the staff queue with every status also reads its index in reply-by order.

Revision ID: 0015
Revises: 0005
Create Date: 2026-12-04 15:08:38.605393

A plain CREATE INDEX (no batch): rebuilding the requests table on SQLite would drop
the triggers that keep requests from being deleted.
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_requests_queue_all',
        'requests',
        ['group_facility_id', 'group_role', 'reply_by', 'id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_requests_queue_all', table_name='requests')
