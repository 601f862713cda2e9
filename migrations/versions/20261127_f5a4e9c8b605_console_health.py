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
    pass


def downgrade():
    pass
