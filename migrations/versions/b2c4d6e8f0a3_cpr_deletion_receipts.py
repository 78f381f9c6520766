"""Deletion receipts: one row each time a share's CPR numbers are deleted

Revision ID: b2c4d6e8f0a3
Revises: a1b3c5d7e9f2
"""

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "b2c4d6e8f0a3"
down_revision = "a1b3c5d7e9f2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cpr_deletion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("share_id", sa.Integer(), sa.ForeignKey("share.id", ondelete="CASCADE"), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=False),
        sa.Column("cprs", sa.Integer(), nullable=False),
        sa.Column("variables", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("cancel_reason", sa.String(40), nullable=True),
    )
    op.create_index("ix_cpr_deletion_share_id", "cpr_deletion", ["share_id"])


def downgrade():
    op.drop_index("ix_cpr_deletion_share_id", table_name="cpr_deletion")
    op.drop_table("cpr_deletion")
