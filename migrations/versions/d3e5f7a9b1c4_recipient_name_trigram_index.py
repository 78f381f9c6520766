"""PostgreSQL: a trigram index on the recipient's folded name

The recipient table's name search is a substring match (LIKE '%…%'). At a
million recipients, a name that is rare in the share's first rows was found
by reading the whole share, half a second a keystroke. searched_page_of
(models/sharing/status.py) takes such a name's matches from this index;
common names it still finds by walking, which this index must not serve (the
planner cannot tell the two apart). SQLite goes without (its walk of 100,000
stays within a page's time), as does a PostgreSQL where pg_trgm cannot be
installed.

Revision ID: d3e5f7a9b1c4
Revises: c2d4e6f8a0b3
"""

from alembic import op

revision = "d3e5f7a9b1c4"
down_revision = "c2d4e6f8a0b3"
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
