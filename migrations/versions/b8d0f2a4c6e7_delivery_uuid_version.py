"""delivery.uuid_version: version 4 messageUUIDs, and version 5 kept where one may have left

Deliveries a worker claimed or tried before may have reached the gateway
with a version 5 UUID; they keep it, so that sending them again is a replay.

Revision ID: b8d0f2a4c6e7
Revises: a7c9e1f3b5d6
"""

import sqlalchemy as sa
from alembic import op

revision = "b8d0f2a4c6e7"
down_revision = "a7c9e1f3b5d6"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN with a constant default: no table rewrite on either database.
    op.add_column("delivery", sa.Column("uuid_version", sa.Integer(), nullable=False, server_default="4"))
    # A delivery some worker claimed, or tried, may have been sent with its
    # version 5 UUID: it keeps that one. The rest never left and take version 4.
    op.execute("UPDATE delivery SET uuid_version = 5 WHERE claimed_by IS NOT NULL OR attempts > 0")


def downgrade():
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("uuid_version")
