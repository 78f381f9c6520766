"""SQLite: the member search index serves one and two letters too

A trigram index holds no entry for a search shorter than three letters, so
"q" or "ü" in an organization of a million members read every member (a
common letter fills its page among the first members and never gets that
far). Each value is now indexed with two padding characters (U+0001, which
no search holds) after it: then every place a letter or two stand in a
value begins a trigram of the index, and the trigrams that begin with the
search, listed by the fts5vocab table membership_search_terms, find exactly
the members holding it. Searches of three letters or more find what they
found before: no search holds the padding.

The index keeps no copy of the values (contentless): the triggers give it
the padded values, which are not the member's own, and FTS5 'rebuild'
would read the unpadded ones back.

Revision ID: a6c8e0b2d4f7
Revises: f5a7b9c1d3e6
"""

from alembic import op

revision = "a6c8e0b2d4f7"
down_revision = "f5a7b9c1d3e6"
branch_labels = None
depends_on = None

TRIGGERS = ("membership_search_insert", "membership_search_delete", "membership_search_update")

PAD = "char(1, 1)"
UP = [
    "CREATE VIRTUAL TABLE membership_search USING fts5(name_folded, email, content='', tokenize='trigram')",
    f"INSERT INTO membership_search(rowid, name_folded, email) "
    f"SELECT id, name_folded || {PAD}, email || {PAD} FROM membership",
    "CREATE VIRTUAL TABLE membership_search_terms USING fts5vocab(membership_search, 'row')",
    f"""CREATE TRIGGER membership_search_insert AFTER INSERT ON membership BEGIN
        INSERT INTO membership_search(rowid, name_folded, email)
        VALUES (new.id, new.name_folded || {PAD}, new.email || {PAD});
    END""",
    f"""CREATE TRIGGER membership_search_delete AFTER DELETE ON membership BEGIN
        INSERT INTO membership_search(membership_search, rowid, name_folded, email)
        VALUES ('delete', old.id, old.name_folded || {PAD}, old.email || {PAD});
    END""",
    f"""CREATE TRIGGER membership_search_update AFTER UPDATE OF name_folded, email ON membership BEGIN
        INSERT INTO membership_search(membership_search, rowid, name_folded, email)
        VALUES ('delete', old.id, old.name_folded || {PAD}, old.email || {PAD});
        INSERT INTO membership_search(rowid, name_folded, email)
        VALUES (new.id, new.name_folded || {PAD}, new.email || {PAD});
    END""",
]
# As revision eddd017219db left it.
DOWN = [
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


def _drop() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS membership_search_terms")
    op.execute("DROP TABLE IF EXISTS membership_search")


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        _drop()
        for statement in UP:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        _drop()
        for statement in DOWN:
            op.execute(statement)
