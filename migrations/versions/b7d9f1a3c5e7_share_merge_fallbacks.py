"""A share keeps a text for each merge field whose value a recipient lacks

Revision ID: b7d9f1a3c5e7
Revises: e5f7a9b1c3d6
"""

import sqlalchemy as sa
from alembic import op

revision = "b7d9f1a3c5e7"
down_revision = "e5f7a9b1c3d6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("share") as batch:
        batch.add_column(sa.Column("merge_fallbacks", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("share") as batch:
        batch.drop_column("merge_fallbacks")
