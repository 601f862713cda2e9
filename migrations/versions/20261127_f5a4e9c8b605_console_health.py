"""console: WeChat API errors per connection, identities.openid index

Revision ID: f5a4e9c8b605
Revises: e4f3d8b7a504
Create Date: 2026-11-27 00:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'f5a4e9c8b605'
down_revision = 'e4f3d8b7a504'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wechat_api_errors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_wechat_api_errors_connection_id_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_api_errors')),
    sa.UniqueConstraint('minute', 'connection_id', 'errcode', name='uq_wechat_api_errors_minute')
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_openid'), ['openid'], unique=False)


def downgrade():
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_openid'))
    op.drop_table('wechat_api_errors')
