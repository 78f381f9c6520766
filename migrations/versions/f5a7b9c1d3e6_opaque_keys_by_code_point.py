"""PostgreSQL: CPR HMACs and recipient tokens compare by code point ("C")

These columns hold hex and URL-safe base64, compared only for equality and
kept in unique indexes. Under a linguistic collation (C.UTF-8, da_DK.UTF-8,
an ICU locale) every comparison inside those indexes went through the
locale; under "C" it is a memcmp. An import of a million recipients makes
about twenty comparisons a row in each of three such indexes. The columns
change together because they are joined with each other (recipient with
recipient_cpr, citizen_contact and citizen_opt_out), and PostgreSQL refuses
to compare columns of two different collations.

Revision ID: f5a7b9c1d3e6
Revises: e4f6a8b0c2d5
"""

from alembic import op

revision = "f5a7b9c1d3e6"
down_revision = "e4f6a8b0c2d5"
branch_labels = None
depends_on = None

COLUMNS = {
    "recipient": [("cpr_hmac", 64), ("token", 32)],
    "recipient_cpr": [("cpr_hmac", 64)],
    "citizen_contact": [("cpr_hmac", 64)],
    "citizen_opt_out": [("cpr_hmac", 64)],
}


def _collate(collation: str) -> None:
    # Only the collation changes: the rows stay, the indexes on the columns
    # are rebuilt, and the statistics dropped with the type are gathered again.
    for table, columns in COLUMNS.items():
        op.execute(
            f"ALTER TABLE {table} "
            + ", ".join(f"ALTER COLUMN {name} TYPE varchar({length}) COLLATE {collation}" for name, length in columns)
        )
        op.execute(f"ANALYZE {table}")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _collate('"C"')


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _collate('"default"')
