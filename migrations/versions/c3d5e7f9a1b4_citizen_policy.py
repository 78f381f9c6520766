"""The organization's protection of citizens: the reason in letters, the
contact cap, and the daily volumes

Revision ID: c3d5e7f9a1b4
Revises: b2c4d6e8f0a3
"""

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "c3d5e7f9a1b4"
down_revision = "b2c4d6e8f0a3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "citizen_policy",
        sa.Column(
            "org_id", sa.Integer(), sa.ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("purpose_da", sa.String(300), nullable=False),
        sa.Column("purpose_en", sa.String(300), nullable=False),
        sa.Column("cap_invitations", sa.Integer(), nullable=False),
        sa.Column("cap_letters", sa.Integer(), nullable=False),
        sa.Column("cap_days", sa.Integer(), nullable=False),
        sa.Column("daily_per_member", sa.Integer(), nullable=False),
        sa.Column("daily_per_org", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
    )


def downgrade():
    op.drop_table("citizen_policy")
