"""Each round's next delivery look in the database (check_at, checks)

Revision ID: e7f9a1b3c5d7
Revises: d2e4f6a8b0c1

Until now the looks lived only in Redis. A round that finished in the last
two days with letters still without a receipt gets a look at once; its old
jobs in Redis are not the round's next look and do nothing.
"""

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "e7f9a1b3c5d7"
down_revision = "d2e4f6a8b0c1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("scheduled_send") as batch:
        batch.add_column(sa.Column("check_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("checks", sa.Integer(), server_default="0", nullable=False))
        batch.create_index("ix_scheduled_send_check_at", ["check_at"])
    now = datetime.now(timezone.utc)
    op.get_bind().execute(
        sa.text(
            "UPDATE scheduled_send SET check_at = :now, checks = 0 "
            "WHERE state = 'done' AND finished_at >= :since AND EXISTS ("
            "SELECT 1 FROM delivery WHERE delivery.round_id = scheduled_send.id "
            "AND delivery.state = 'sent' AND delivery.delivered_at IS NULL)"
        ).bindparams(
            sa.bindparam("now", now, type_=UTCDateTime(timezone=True)),
            sa.bindparam("since", now - timedelta(days=2), type_=UTCDateTime(timezone=True)),
        )
    )


def downgrade():
    with op.batch_alter_table("scheduled_send") as batch:
        batch.drop_index("ix_scheduled_send_check_at")
        batch.drop_column("checks")
        batch.drop_column("check_at")
