"""SQLite: a covering index from membership id to what a search result needs

A text search on SQLite gets its matches from the FTS5 trigram table as
rowids, then checks each one's organization and reads its sort key. From
this narrow index rather than from the table's rows, that is about a third
faster (3,800 matches: 6.4 ms -> 4.7 ms). PostgreSQL's trigram search reads
the heap in one bitmap pass and has no use for it.

Revision ID: b2d4f6a8c0e1
Revises: a1c3e5f7b9d2
Create Date: 2026-11-27 11:40:00

"""
from alembic import op


revision = 'b2d4f6a8c0e1'
down_revision = 'a1c3e5f7b9d2'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        # Named with the search structures' prefix: models.members keeps
        # autogenerate away from them.
        op.execute("CREATE INDEX membership_search_lookup ON membership (id, org_id, name_folded, email)")


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS membership_search_lookup")
