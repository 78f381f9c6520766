"""The contact cap's entries and citizens' "no surveys from this
organization", both by the HMAC of the CPR number

Revision ID: d4e6f8a0b2c5
Revises: c3d5e7f9a1b4
"""

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "d4e6f8a0b2c5"
down_revision = "c3d5e7f9a1b4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "citizen_contact",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organization.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cpr_hmac", sa.String(64), nullable=False),
        sa.Column("invitation", sa.Boolean(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False, unique=True),
    )
    op.create_index("ix_citizen_contact_org_hmac_time", "citizen_contact", ["org_id", "cpr_hmac", "sent_at"])
    op.create_table(
        "citizen_opt_out",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("cpr_hmac", sa.String(64), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade():
    op.drop_table("citizen_opt_out")
    op.drop_index("ix_citizen_contact_org_hmac_time", table_name="citizen_contact")
    op.drop_table("citizen_contact")
