"""PostgreSQL: a trigram index on the recipient's folded name

The recipient table's name search is a substring match (LIKE '%…%'). At a
million recipients a search that finds few or none read the whole share,
half a second a keystroke; pg_trgm's GIN index serves the LIKE itself.
SQLite goes without (its scan of 100,000 stays within a page's time), as
does a PostgreSQL where pg_trgm cannot be installed.

Revision ID: b0c2d4e6f8a1
Revises: a9b1c3d5e7f9
"""

from alembic import op

revision = "b0c2d4e6f8a1"
down_revision = "a9b1c3d5e7f9"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar():
        op.execute("CREATE INDEX ix_recipient_name_trgm ON recipient USING gin (name_folded gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_recipient_name_trgm")
