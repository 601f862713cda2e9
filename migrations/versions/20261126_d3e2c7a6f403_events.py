"""events: outbox, webhooks, pass-through, back-channel logout

Revision ID: d3e2c7a6f403
Revises: c2d1b6f5e302
Create Date: 2026-11-26 22:40:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = 'd3e2c7a6f403'
down_revision = 'c2d1b6f5e302'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
