"""SQLite: the member search index in name order (membership_search_ordered)

A search with many matches walked the table in name order testing each
member; where its matches stand together far down that order (every
"Prof." of a million members sorts under P) the walk read most of the
table, and sorting the matches read each of them. membership_search_ordered
holds the same trigram entries as membership_search under a key that
follows each organization's order of (name_folded, id),
membership.search_key: asked for a search ORDER BY rowid it gives the
matches in name order. detail='none': it is asked for trigrams, never a
phrase, and the search is tested on the members it finds.

The key is the organization's id times 2**40 plus the member's place in the
order times 2**20 (closer in an organization of more than a million); the
triggers give a newcomer or a renamed member the key halfway between its
neighbours', or none when none is left between them (see
models/search_order.py).

Revision ID: c8e0a2b4d6f8
Revises: b7d9f1a3c5e8
"""

from alembic import op

revision = "c8e0a2b4d6f8"
down_revision = "b7d9f1a3c5e8"
branch_labels = None
depends_on = None

ORG_KEYS = 1 << 40
SPACING = 1 << 20
PAD = "char(1, 1)"
TRIGGERS = ("membership_search_ordered_insert", "membership_search_ordered_delete", "membership_search_ordered_update")

NEIGHBOUR = """(SELECT m.search_key FROM membership m
                   WHERE m.org_id = new.org_id AND m.search_key IS NOT NULL AND m.id != new.id
                     AND (m.name_folded, m.id) {op} (new.name_folded, new.id)
                   ORDER BY m.name_folded {direction}, m.id {direction} LIMIT 1)"""
TAKE_KEY = f"""UPDATE membership SET search_key = (
            SELECT CASE WHEN hi - lo >= 2 THEN lo + (hi - lo) / 2 END
              FROM (SELECT coalesce({NEIGHBOUR.format(op="<", direction="DESC")}, new.org_id * {ORG_KEYS}) AS lo,
                           coalesce({NEIGHBOUR.format(op=">", direction="ASC")}, (new.org_id + 1) * {ORG_KEYS}) AS hi))
         WHERE id = new.id;
        INSERT INTO membership_search_ordered(rowid, name_folded, email)
             SELECT search_key, name_folded || {PAD}, email || {PAD} FROM membership
              WHERE id = new.id AND search_key IS NOT NULL;"""
DROP_KEY = f"""INSERT INTO membership_search_ordered(membership_search_ordered, rowid, name_folded, email)
             SELECT 'delete', old.search_key, old.name_folded || {PAD}, old.email || {PAD}
              WHERE old.search_key IS NOT NULL;"""

UP = [
    "ALTER TABLE membership ADD COLUMN search_key INTEGER",
    # Each organization numbered in its order, as models.search_order.order_search_index does.
    f"""UPDATE membership SET search_key = org_id * {ORG_KEYS} + place * spacing FROM
        (SELECT id AS member, row_number() OVER (PARTITION BY org_id ORDER BY name_folded, id) AS place,
                min({SPACING}, {ORG_KEYS} / (count(*) OVER (PARTITION BY org_id) + 1)) AS spacing
           FROM membership) WHERE id = member""",
    "CREATE INDEX membership_search_key ON membership (search_key)",
    "CREATE INDEX membership_search_unordered ON membership (org_id, name_folded, id, email) WHERE search_key IS NULL",
    "CREATE VIRTUAL TABLE membership_search_ordered USING fts5("
    "name_folded, email, content='', tokenize='trigram', detail='none')",
    f"INSERT INTO membership_search_ordered(rowid, name_folded, email) "
    f"SELECT search_key, name_folded || {PAD}, email || {PAD} FROM membership ORDER BY search_key",
    f"""CREATE TRIGGER membership_search_ordered_insert AFTER INSERT ON membership BEGIN
        {TAKE_KEY}
    END""",
    f"""CREATE TRIGGER membership_search_ordered_delete AFTER DELETE ON membership BEGIN
        {DROP_KEY}
    END""",
    f"""CREATE TRIGGER membership_search_ordered_update AFTER UPDATE OF name_folded, email, org_id ON membership BEGIN
        {DROP_KEY}
        {TAKE_KEY}
    END""",
]


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        for statement in UP:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS membership_search_ordered")
        op.execute("DROP INDEX IF EXISTS membership_search_unordered")
        op.execute("DROP INDEX IF EXISTS membership_search_key")
        op.execute("ALTER TABLE membership DROP COLUMN search_key")
