"""An organization keeps unfinished drafts for a number of days of its choosing

Revision ID: c9e1a3b5d7f9
Revises: b7d9f1a3c5e7
"""

import sqlalchemy as sa
from alembic import op

revision = "c9e1a3b5d7f9"
down_revision = "b7d9f1a3c5e7"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("citizen_policy") as batch:
        batch.add_column(sa.Column("draft_days", sa.Integer(), nullable=False, server_default="30"))


def downgrade():
    with op.batch_alter_table("citizen_policy") as batch:
        batch.drop_column("draft_days")
