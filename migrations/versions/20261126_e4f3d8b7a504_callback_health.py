"""callback health per connection (the console's connection screen)

Revision ID: e4f3d8b7a504
Revises: d3e2c7a6f403
Create Date: 2026-11-26 23:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e4f3d8b7a504'
down_revision = 'd3e2c7a6f403'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('callback_health',
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_event_kind', sa.String(length=32), nullable=True),
    sa.Column('last_refusal_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_refusal_reason', sa.String(length=64), nullable=True),
    sa.Column('refusals', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_callback_health_connection_id_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id', name=op.f('pk_callback_health'))
    )


def downgrade():
    op.drop_table('callback_health')
