"""PostgreSQL: membership's folded name and e-mail sort by code point

The member table sorts by these columns and ranks a search's prefix matches
first. Under a linguistic collation (the server's default, C.UTF-8 or
da_DK.UTF-8) a btree cannot serve LIKE 'q%' as a range, so each prefix was
looked for by walking the name index from its start, or in the trigram index,
where a string in every e-mail ("demo.postbud") listed every member. Under
"C" the indexes on these columns serve a prefix as a range, in the order the
table shows. SQLite already compares these columns by code point (BINARY),
so both databases now sort the member table alike.

Revision ID: e4f6a8b0c2d5
Revises: d3e5f7a9b1c4
"""

from alembic import op

revision = "e4f6a8b0c2d5"
down_revision = "d3e5f7a9b1c4"
branch_labels = None
depends_on = None


def _collate(collation: str) -> None:
    # Only the collation changes: the rows stay, the indexes on the columns
    # are rebuilt, and the columns' statistics, dropped with their type, are
    # gathered again (without them the planner guessed every search wrong).
    op.execute(
        f"ALTER TABLE membership ALTER COLUMN name_folded TYPE varchar(200) COLLATE {collation}, "
        f"ALTER COLUMN email TYPE varchar(254) COLLATE {collation}"
    )
    op.execute("ANALYZE membership")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _collate('"C"')


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _collate('"default"')
