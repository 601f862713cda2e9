"""trust rules: separate confirm-code attempts on login sessions

Revision ID: a9d3c1e2b7f4
Revises: f0e7169e7820
Create Date: 2026-11-26 21:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a9d3c1e2b7f4'
down_revision = 'f0e7169e7820'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirm_attempts', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('confirm_attempts')
