"""A share keeps the organization's reason for its letters from when it was
confirmed, so that a repeated send carries the same letter

Revision ID: e5f7a9b1c3d6
Revises: d4e6f8a0b2c5
"""

import sqlalchemy as sa
from alembic import op

revision = "e5f7a9b1c3d6"
down_revision = "d4e6f8a0b2c5"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("share") as batch:
        batch.add_column(sa.Column("purpose_da", sa.String(300), nullable=True))
        batch.add_column(sa.Column("purpose_en", sa.String(300), nullable=True))
    # Shares confirmed before: the default sentence, frozen.
    share = sa.table("share", sa.column("state"), sa.column("purpose_da"), sa.column("purpose_en"))
    op.get_bind().execute(share.update().where(share.c.state == "confirmed").values(purpose_da="", purpose_en=""))


def downgrade():
    with op.batch_alter_table("share") as batch:
        batch.drop_column("purpose_en")
        batch.drop_column("purpose_da")
