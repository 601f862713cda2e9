"""events: a login session records whether the scan that fixed its scanner was a follow (user.login's new_follower)

Revision ID: b7c6a1e0d807
Revises: a6b5f0d9c706
Create Date: 2026-12-07 06:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b7c6a1e0d807'
down_revision = 'a6b5f0d9c706'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followed', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('followed')
