"""delivery claims with a lease, who sent, and a round's crash count

Several workers send one round side by side: each claims a chunk of
pending deliveries (on PostgreSQL with FOR UPDATE SKIP LOCKED) for a lease,
so no two take the same recipient, and a dead worker's claims run out.

Revision ID: 7b2d4e6f8a10
Revises: 5e3a9c1d2b47
Create Date: 2026-11-27 08:40:00

"""
from alembic import op
import sqlalchemy as sa

import models.base


revision = '7b2d4e6f8a10'
down_revision = '5e3a9c1d2b47'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_until', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
    with op.batch_alter_table('scheduled_send', schema=None) as batch_op:
        batch_op.add_column(sa.Column('crashes', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('scheduled_send', schema=None) as batch_op:
        batch_op.drop_column('crashes')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('claimed_until')
