"""speed: per-process cache invalidation

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
    pass


def downgrade():
    pass
