"""reach: web authorization and send-a-code

Revision ID: c2d1b6f5e302
Revises: b1c0a5e4d201
Create Date: 2026-11-26 22:40:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = 'c2d1b6f5e302'
down_revision = 'b1c0a5e4d201'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
