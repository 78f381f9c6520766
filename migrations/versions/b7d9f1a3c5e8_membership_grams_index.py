"""PostgreSQL: an index of every letter and pair of letters of members' names and e-mails

pg_trgm takes nothing from a LIKE of one or two letters, so "q" or "ü" in
a large organization read every member (a common letter fills its page
among the first members and never gets that far). membership_grams() gives
the distinct substrings of one and two characters of the folded name and
the e-mail, and a GIN index over it finds the members holding a search that
short (models.members._text_match).

Revision ID: b7d9f1a3c5e8
Revises: a6c8e0b2d4f7
"""

from alembic import op

revision = "b7d9f1a3c5e8"
down_revision = "a6c8e0b2d4f7"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION membership_grams(name_folded text, email text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(v, i, n)), '{}')
    FROM unnest(ARRAY[name_folded, email]) AS v,
         generate_series(1, 2) AS n,
         generate_series(1, length(v) - n + 1) AS i
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)
        op.execute("CREATE INDEX ix_membership_grams ON membership USING gin (membership_grams(name_folded, email))")
        op.execute("ANALYZE membership")  # the index's expression gets statistics of its own


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_membership_grams")
        op.execute("DROP FUNCTION IF EXISTS membership_grams(text, text)")
