"""SF1601: the integration's transport and certificate, the reach check, paper, receipts

Revision ID: d2a4c6e8f0b1
Revises: c9e1a3b5d7f8
"""

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "d2a4c6e8f0b1"
down_revision = "c9e1a3b5d7f8"
branch_labels = None
depends_on = None

SETTINGS = (
    ("transport", sa.String(12)),
    ("environment", sa.String(12)),
    ("certificate_encrypted", sa.Text()),
    ("certificate_subject", sa.String(512)),
    ("certificate_serial", sa.String(64)),
    ("certificate_not_after", UTCDateTime()),
)


def upgrade():
    with op.batch_alter_table("digital_post_integration") as batch:
        for name, kind in SETTINGS:
            server_default = "provider" if name == "transport" else None
            batch.add_column(sa.Column(name, kind, nullable=server_default is None, server_default=server_default))
            batch.add_column(sa.Column("pending_" + name, kind, nullable=True))
        batch.add_column(sa.Column("paper_allowed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("print_type", sa.Integer(), nullable=True))
    with op.batch_alter_table("share") as batch:
        batch.add_column(sa.Column("exempt_choice", sa.String(12), nullable=False, server_default="leave_out"))
        batch.add_column(sa.Column("reach_state", sa.String(12), nullable=True))
        batch.add_column(sa.Column("reach_error", sa.String(40), nullable=True))
    with op.batch_alter_table("recipient") as batch:
        batch.add_column(sa.Column("registration", sa.String(10), nullable=True))
        batch.add_column(sa.Column("paper_code", sa.String(12), nullable=True))
        batch.create_unique_constraint("uq_recipient_paper_code", ["paper_code"])
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("message_uuid", sa.String(36), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(8), nullable=True))
        batch.add_column(sa.Column("receipt", sa.String(10), nullable=True))
        batch.add_column(sa.Column("receipt_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("receipt_code", sa.String(40), nullable=True))
        batch.add_column(sa.Column("receipt_text", sa.String(256), nullable=True))
        batch.create_unique_constraint("uq_delivery_message_uuid", ["message_uuid"])


def downgrade():
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("uq_delivery_message_uuid", type_="unique")
        for name in ("receipt_text", "receipt_code", "receipt_at", "receipt", "channel", "message_uuid"):
            batch.drop_column(name)
    with op.batch_alter_table("recipient") as batch:
        batch.drop_constraint("uq_recipient_paper_code", type_="unique")
        batch.drop_column("paper_code")
        batch.drop_column("registration")
    with op.batch_alter_table("share") as batch:
        for name in ("reach_error", "reach_state", "exempt_choice"):
            batch.drop_column(name)
    with op.batch_alter_table("digital_post_integration") as batch:
        batch.drop_column("print_type")
        batch.drop_column("paper_allowed")
        for name, _kind in reversed(SETTINGS):
            batch.drop_column("pending_" + name)
            batch.drop_column(name)
