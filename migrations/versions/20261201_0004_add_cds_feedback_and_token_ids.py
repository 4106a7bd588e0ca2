"""add cds_feedback (card outcomes) and cds_token_ids (JWT ids seen, for replay refusal)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:15:09.900858
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cds_feedback',
    sa.Column('service_id', sa.String(length=64), nullable=False),
    sa.Column('card_uuid', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('override_reason', sa.JSON(), nullable=True),
    sa.Column('accepted_suggestions', sa.JSON(), nullable=False),
    sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_iss', sa.String(length=256), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name=op.f('ck_cds_feedback_outcome_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cds_feedback'))
    )
    with op.batch_alter_table('cds_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cds_feedback_card_uuid'), ['card_uuid'], unique=False)
        batch_op.create_index(batch_op.f('ix_cds_feedback_service_id'), ['service_id'], unique=False)

    op.create_table('cds_token_ids',
    sa.Column('iss', sa.String(length=256), nullable=False),
    sa.Column('jti', sa.String(length=256), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cds_token_ids')),
    sa.UniqueConstraint('iss', 'jti', name=op.f('uq_cds_token_ids_iss_jti'))
    )
    with op.batch_alter_table('cds_token_ids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cds_token_ids_expires_at'), ['expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cds_token_ids', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cds_token_ids_expires_at'))

    op.drop_table('cds_token_ids')
    with op.batch_alter_table('cds_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cds_feedback_service_id'))
        batch_op.drop_index(batch_op.f('ix_cds_feedback_card_uuid'))

    op.drop_table('cds_feedback')
