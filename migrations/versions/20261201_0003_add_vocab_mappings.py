"""add vocab_mappings (medication code maps and ATC display names)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:08:34.772054
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('vocab_mappings',
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('atc3', sa.String(length=4), nullable=False),
    sa.Column('display', sa.String(length=256), nullable=True),
    sa.Column('source_version', sa.String(length=128), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("system IN ('rxnorm', 'ndc', 'atc')", name=op.f('ck_vocab_mappings_system_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vocab_mappings')),
    sa.UniqueConstraint('system', 'code', 'atc3', name=op.f('uq_vocab_mappings_system_code_atc3'))
    )


def downgrade() -> None:
    op.drop_table('vocab_mappings')
