"""create model_versions, ddi_interactions, api_keys, audit_events

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 01:00:50.504295
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('clinician', 'admin')", name=op.f('ck_api_keys_role_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('ddi_interactions',
    sa.Column('atc_a', sa.String(length=4), nullable=False),
    sa.Column('atc_b', sa.String(length=4), nullable=False),
    sa.Column('types', sa.JSON(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('source_version', sa.String(length=128), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("severity IN ('high', 'moderate', 'low', 'unknown')", name=op.f('ck_ddi_interactions_severity_known')),
    sa.CheckConstraint('atc_a < atc_b', name=op.f('ck_ddi_interactions_ordered_pair')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ddi_interactions')),
    sa.UniqueConstraint('atc_a', 'atc_b', 'source', name=op.f('uq_ddi_interactions_atc_a_atc_b_source'))
    )
    with op.batch_alter_table('ddi_interactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ddi_interactions_atc_a'), ['atc_a'], unique=False)
        batch_op.create_index(batch_op.f('ix_ddi_interactions_atc_b'), ['atc_b'], unique=False)

    op.create_table('model_versions',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('registered', 'active', 'inactive')", name=op.f('ck_model_versions_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_versions')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_model_versions_name_version'))
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_name'), ['name'], unique=False)

    op.create_table('audit_events',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('api_key_id', sa.Uuid(), nullable=True),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('route', sa.String(length=256), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_audit_events_api_key_id_api_keys'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_api_key_id'), ['api_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_request_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_api_key_id'))

    op.drop_table('audit_events')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_name'))

    op.drop_table('model_versions')
    with op.batch_alter_table('ddi_interactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ddi_interactions_atc_b'))
        batch_op.drop_index(batch_op.f('ix_ddi_interactions_atc_a'))

    op.drop_table('ddi_interactions')
    op.drop_table('api_keys')
