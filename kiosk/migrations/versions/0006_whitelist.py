"""Whitelisted learning resources: rules, visits, site requests, page cache, offline libraries.

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-04 14:17:07.227835
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kiosk.db

revision = '0006'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('whitelist_cache',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url_hash', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('final_url', sa.String(length=2048), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('charset', sa.String(length=40), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('upstream_status', sa.Integer(), nullable=False),
    sa.Column('fetched_at', kiosk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kiosk.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_whitelist_cache')),
    sa.UniqueConstraint('url_hash', name=op.f('uq_whitelist_cache_url_hash'))
    )
    with op.batch_alter_table('whitelist_cache', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_whitelist_cache_expires_at'), ['expires_at'], unique=False)

    op.create_table('whitelist_libraries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', kiosk.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['staff.id'], name=op.f('fk_whitelist_libraries_added_by_id_staff')),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], name=op.f('fk_whitelist_libraries_facility_id_facilities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_whitelist_libraries')),
    sa.UniqueConstraint('file_name', name=op.f('uq_whitelist_libraries_file_name'))
    )
    with op.batch_alter_table('whitelist_libraries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_whitelist_libraries_facility_id'), ['facility_id'], unique=False)

    op.create_table('whitelist_site_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inmate_id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'proposed', 'declined', name='siterequeststatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('created_at', kiosk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('handled_at', kiosk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], name=op.f('fk_whitelist_site_requests_facility_id_facilities')),
    sa.ForeignKeyConstraint(['handled_by_id'], ['staff.id'], name=op.f('fk_whitelist_site_requests_handled_by_id_staff')),
    sa.ForeignKeyConstraint(['inmate_id'], ['inmates.id'], name=op.f('fk_whitelist_site_requests_inmate_id_inmates')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_whitelist_site_requests_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_whitelist_site_requests'))
    )
    with op.batch_alter_table('whitelist_site_requests', schema=None) as batch_op:
        batch_op.create_index('ix_whitelist_site_requests_facility_id_status', ['facility_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_whitelist_site_requests_inmate_id'), ['inmate_id'], unique=False)

    op.create_table('whitelist_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=2048), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('on_site_mirror', sa.Boolean(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('proposed', 'approved', 'rejected', 'disabled', name='rulestatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('proposed_at', kiosk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', kiosk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', kiosk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', kiosk.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('site_request_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('approved_by_id IS NULL OR approved_by_id <> proposed_by_id', name=op.f('ck_whitelist_rules_two_people')),
    sa.CheckConstraint('unit_id IS NULL OR facility_id IS NOT NULL', name=op.f('ck_whitelist_rules_unit_in_facility')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['staff.id'], name=op.f('fk_whitelist_rules_approved_by_id_staff')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['staff.id'], name=op.f('fk_whitelist_rules_closed_by_id_staff')),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], name=op.f('fk_whitelist_rules_facility_id_facilities')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['staff.id'], name=op.f('fk_whitelist_rules_proposed_by_id_staff')),
    sa.ForeignKeyConstraint(['site_request_id'], ['whitelist_site_requests.id'], name=op.f('fk_whitelist_rules_site_request_id_whitelist_site_requests')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_whitelist_rules_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_whitelist_rules'))
    )
    with op.batch_alter_table('whitelist_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_whitelist_rules_facility_id'), ['facility_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_whitelist_rules_status'), ['status'], unique=False)
        batch_op.create_index('ix_whitelist_rules_status_facility_id', ['status', 'facility_id'], unique=False)

    op.create_table('whitelist_visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', kiosk.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('inmate_id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('terminal_id', sa.Integer(), nullable=True),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('verdict', sa.Enum('allowed', 'refused', 'failed', name='visitverdict', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('upstream_status', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], name=op.f('fk_whitelist_visits_facility_id_facilities')),
    sa.ForeignKeyConstraint(['inmate_id'], ['inmates.id'], name=op.f('fk_whitelist_visits_inmate_id_inmates')),
    sa.ForeignKeyConstraint(['rule_id'], ['whitelist_rules.id'], name=op.f('fk_whitelist_visits_rule_id_whitelist_rules')),
    sa.ForeignKeyConstraint(['terminal_id'], ['terminals.id'], name=op.f('fk_whitelist_visits_terminal_id_terminals')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_whitelist_visits_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_whitelist_visits'))
    )
    with op.batch_alter_table('whitelist_visits', schema=None) as batch_op:
        batch_op.create_index('ix_whitelist_visits_facility_id_at', ['facility_id', 'at'], unique=False)
        batch_op.create_index('ix_whitelist_visits_inmate_id_at', ['inmate_id', 'at'], unique=False)
        batch_op.create_index('ix_whitelist_visits_verdict_at', ['verdict', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('whitelist_visits', schema=None) as batch_op:
        batch_op.drop_index('ix_whitelist_visits_verdict_at')
        batch_op.drop_index('ix_whitelist_visits_inmate_id_at')
        batch_op.drop_index('ix_whitelist_visits_facility_id_at')

    op.drop_table('whitelist_visits')
    with op.batch_alter_table('whitelist_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_whitelist_rules_status_facility_id')
        batch_op.drop_index(batch_op.f('ix_whitelist_rules_status'))
        batch_op.drop_index(batch_op.f('ix_whitelist_rules_facility_id'))

    op.drop_table('whitelist_rules')
    with op.batch_alter_table('whitelist_site_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_whitelist_site_requests_inmate_id'))
        batch_op.drop_index('ix_whitelist_site_requests_facility_id_status')

    op.drop_table('whitelist_site_requests')
    with op.batch_alter_table('whitelist_libraries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_whitelist_libraries_facility_id'))

    op.drop_table('whitelist_libraries')
    with op.batch_alter_table('whitelist_cache', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_whitelist_cache_expires_at'))

    op.drop_table('whitelist_cache')
