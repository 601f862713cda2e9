"""admin console

Revision ID: b1c0a5e4d201
Revises: a9d3c1e2b7f4
Create Date: 2026-11-26 22:40:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = 'b1c0a5e4d201'
down_revision = 'a9d3c1e2b7f4'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
