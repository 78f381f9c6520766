"""test_letter: the share's letter sent to the member's own Digital Post

Revision ID: c9e1a3b5d7f8
Revises: b8d0f2a4c6e7
"""

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "c9e1a3b5d7f8"
down_revision = "b8d0f2a4c6e7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "test_letter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organization.id", ondelete="CASCADE"), nullable=False),
        sa.Column("share_id", sa.Integer(), sa.ForeignKey("share.id", ondelete="CASCADE"), nullable=False),
        sa.Column("membership_id", sa.Integer(), sa.ForeignKey("membership.id", ondelete="SET NULL"), nullable=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("cpr_masked", sa.String(11), nullable=False),
        sa.Column("message_uuid", sa.String(36), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("error", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_test_letter_share_id", "test_letter", ["share_id"])
    op.create_index("ix_test_letter_membership_id", "test_letter", ["membership_id"])


def downgrade():
    op.drop_table("test_letter")
