"""substring search indexes: FTS5 trigram on SQLite, pg_trgm on PostgreSQL

Revision ID: eddd017219db
Revises: 9ad6f7130f7b
Create Date: 2026-11-26 17:57:39.538976

"""
from alembic import op
import sqlalchemy as sa

import models.base


# revision identifiers, used by Alembic.
revision = 'eddd017219db'
down_revision = '9ad6f7130f7b'
branch_labels = None
depends_on = None


# The member table's text search is a substring search ("ann" finds Hanne).
# A B-tree cannot serve that, so each database gets its own trigram index:
# SQLite an FTS5 table with the trigram tokenizer, kept in step by triggers;
# PostgreSQL GIN indexes from pg_trgm, which plain LIKE '%…%' then uses.
# Without them (pg_trgm not installable) the search still works, by scanning.

SQLITE_UP = [
    """CREATE VIRTUAL TABLE membership_search USING fts5(
           name_folded, email, content='membership', content_rowid='id', tokenize='trigram')""",
    "INSERT INTO membership_search(membership_search) VALUES ('rebuild')",
    """CREATE TRIGGER membership_search_insert AFTER INSERT ON membership BEGIN
           INSERT INTO membership_search(rowid, name_folded, email) VALUES (new.id, new.name_folded, new.email);
       END""",
    """CREATE TRIGGER membership_search_delete AFTER DELETE ON membership BEGIN
           INSERT INTO membership_search(membership_search, rowid, name_folded, email)
           VALUES ('delete', old.id, old.name_folded, old.email);
       END""",
    """CREATE TRIGGER membership_search_update AFTER UPDATE OF name_folded, email ON membership BEGIN
           INSERT INTO membership_search(membership_search, rowid, name_folded, email)
           VALUES ('delete', old.id, old.name_folded, old.email);
           INSERT INTO membership_search(rowid, name_folded, email) VALUES (new.id, new.name_folded, new.email);
       END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS membership_search_update",
    "DROP TRIGGER IF EXISTS membership_search_delete",
    "DROP TRIGGER IF EXISTS membership_search_insert",
    "DROP TABLE IF EXISTS membership_search",
]


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    elif bind.dialect.name == "postgresql" and _pg_trgm(bind):
        op.execute("CREATE INDEX ix_membership_name_trgm ON membership USING gin (name_folded gin_trgm_ops)")
        op.execute("CREATE INDEX ix_membership_email_trgm ON membership USING gin (email gin_trgm_ops)")


def _pg_trgm(bind) -> bool:
    """Install pg_trgm if this role may; a role that may not just goes without."""
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar():
        return True
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION pg_trgm")
    except sa.exc.DBAPIError:
        savepoint.rollback()
        print("pg_trgm cannot be installed here: member search will scan instead of using an index")
        return False
    savepoint.commit()
    return True


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_membership_email_trgm")
        op.execute("DROP INDEX IF EXISTS ix_membership_name_trgm")
