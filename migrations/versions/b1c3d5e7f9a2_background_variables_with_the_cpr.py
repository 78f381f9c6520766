"""recipient.variables moves to recipient_cpr.variables: deleted with the CPR

A recipient's background variables are deleted with their CPR when no
round is pending. In the recipient row, that was an UPDATE rewriting every
row of the share (and its indexes); at a million recipients on PostgreSQL,
most of a minute. Beside the CPR, in the row retention deletes anyway, it
is the same DELETE.

Revision ID: b1c3d5e7f9a2
Revises: a9b1c3d5e7f9
"""

import sqlalchemy as sa
from alembic import op

revision = "b1c3d5e7f9a2"
down_revision = "a9b1c3d5e7f9"
branch_labels = None
depends_on = None


def _is_object(column: str) -> str:
    # A JSON null was stored for a row without variables; only objects move.
    if op.get_bind().dialect.name == "postgresql":
        return f"json_typeof({column}) = 'object'"
    return f"json_type({column}) = 'object'"


def upgrade():
    op.add_column("recipient_cpr", sa.Column("variables", sa.JSON(none_as_null=True), nullable=True))
    op.execute(
        "UPDATE recipient_cpr SET variables = (SELECT r.variables FROM recipient r "
        "WHERE r.share_id = recipient_cpr.share_id AND r.cpr_hmac = recipient_cpr.cpr_hmac "
        f"AND {_is_object('r.variables')})"
    )
    # Not batch mode: on SQLite that rebuilds the table, and its triggers with it.
    op.drop_column("recipient", "variables")


def downgrade():
    op.add_column("recipient", sa.Column("variables", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE recipient SET variables = (SELECT c.variables FROM recipient_cpr c "
        "WHERE c.share_id = recipient.share_id AND c.cpr_hmac = recipient.cpr_hmac)"
    )
    op.drop_column("recipient_cpr", "variables")
