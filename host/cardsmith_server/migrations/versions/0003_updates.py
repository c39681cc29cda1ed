"""remote update: the service key, update packages per card, update sessions

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('update_service',
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('private_key', sa.Text(), nullable=False),
    sa.Column('public_key', sa.String(length=130), nullable=False),
    sa.Column('certificate', sa.String(length=342), nullable=True),
    sa.Column('issuer_key', sa.String(length=130), nullable=True),
    sa.Column('created', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('issuer')
    )
    op.create_table('update_packages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('card_id', sa.String(length=16), nullable=False),
    sa.Column('record', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('payload_bytes', sa.Integer(), nullable=False),
    sa.Column('expiry', sa.String(length=10), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=32), nullable=False),
    sa.Column('created', sa.String(length=32), nullable=False),
    sa.Column('delivered', sa.String(length=32), nullable=True),
    sa.Column('ack', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issuer', 'digest', name='uq_update_packages_digest'),
    sa.UniqueConstraint('issuer', 'card_id', 'record', 'version', name='uq_update_packages_version')
    )
    op.create_index('ix_update_packages_card', 'update_packages', ['issuer', 'card_id', 'state'], unique=False)
    op.create_table('update_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('card_id', sa.String(length=16), nullable=False),
    sa.Column('certificate', sa.String(length=422), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('server_nonce', sa.String(length=64), nullable=True),
    sa.Column('card_nonce', sa.String(length=32), nullable=True),
    sa.Column('client', sa.String(length=32), nullable=False),
    sa.Column('created', sa.String(length=32), nullable=False),
    sa.Column('expires', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('update_sessions')
    op.drop_index('ix_update_packages_card', table_name='update_packages')
    op.drop_table('update_packages')
    op.drop_table('update_service')
