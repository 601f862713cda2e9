"""speed: per-process cache invalidation (a version row per cached kind), client-authentication lock-outs

Revision ID: a6b5f0d9c706
Revises: f5a4e9c8b605
Create Date: 2026-11-27 00:21:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a6b5f0d9c706'
down_revision = 'f5a4e9c8b605'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cache_versions',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_cache_versions'))
    )
    op.create_table('auth_lockouts',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('until', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_auth_lockouts'))
    )
    with op.batch_alter_table('auth_lockouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_lockouts_until'), ['until'], unique=False)


def downgrade():
    with op.batch_alter_table('auth_lockouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_lockouts_until'))
    op.drop_table('auth_lockouts')
    op.drop_table('cache_versions')
