"""usage records from terminals; the deny list and its per-issuer version

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('usage_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('card_id', sa.String(length=16), nullable=False),
    sa.Column('counter', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=False),
    sa.Column('time', sa.String(length=40), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=True),
    sa.Column('verification', sa.String(length=16), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('terminal', sa.String(length=32), nullable=False),
    sa.Column('received', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issuer', 'card_id', 'counter', name='uq_usage_card_counter')
    )
    op.create_table('deny_versions',
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('issuer')
    )
    op.create_table('deny_list',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('changed', sa.String(length=32), nullable=False),
    sa.Column('changed_by', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issuer', 'kind', 'value', name='uq_deny_entry')
    )
    op.create_index('ix_deny_version', 'deny_list', ['issuer', 'version'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deny_version', table_name='deny_list')
    op.drop_table('deny_list')
    op.drop_table('deny_versions')
    op.drop_table('usage_records')
