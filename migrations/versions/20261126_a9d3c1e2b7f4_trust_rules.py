"""trust rules: confirm-code attempts, push claims as leases, plaintext signature memory, resource servers

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

    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
    # Claims recorded before this revision were taken only after their effects: they are done.
    op.execute("UPDATE processed_events SET done_at = received_at")

    op.create_table('push_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('signature', sa.String(length=40), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_push_signatures_connection_id_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_signatures')),
    sa.UniqueConstraint('connection_id', 'signature', name='uq_push_signatures_connection_signature')
    )
    with op.batch_alter_table('push_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_signatures_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resource_server', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('resource_server')
    with op.batch_alter_table('push_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_signatures_expires_at'))
    op.drop_table('push_signatures')
    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.drop_column('done_at')
        batch_op.drop_column('lease_until')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('confirm_attempts')
