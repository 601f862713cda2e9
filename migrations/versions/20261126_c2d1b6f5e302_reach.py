"""reach: web authorization and send-a-code

Revision ID: c2d1b6f5e302
Revises: b1c0a5e4d201
Create Date: 2026-11-26 22:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c2d1b6f5e302'
down_revision = 'b1c0a5e4d201'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_type', sa.String(length=16), nullable=False, server_default='service'))
        batch_op.add_column(sa.Column('code_login', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('account_qr_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('web_auth', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('require_follow', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_code_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('login_code_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('oauth_state_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('oauth_state_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_login_sessions_login_code_digest'), ['login_code_digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_sessions_oauth_state_digest'), ['oauth_state_digest'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_oauth_state_digest'))
        batch_op.drop_index(batch_op.f('ix_login_sessions_login_code_digest'))
        batch_op.drop_column('oauth_state_expires_at')
        batch_op.drop_column('oauth_state_digest')
        batch_op.drop_column('login_code_expires_at')
        batch_op.drop_column('login_code_digest')

    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_column('require_follow')
        batch_op.drop_column('web_auth')
        batch_op.drop_column('account_qr_url')
        batch_op.drop_column('code_login')
        batch_op.drop_column('account_type')
