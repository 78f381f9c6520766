"""PostgreSQL: the member search in name order, by buckets of members

A search with many matches walked the table in name order testing each
member; where its matches stand together far down that order (every
"Prof." of a million members sorts under P) the walk read most of the
table, and sorting the matches read each of them. GIN gives its matches in
no order. membership_search_bucket cuts each organization's order of
(name_folded, id) into ranges of a few hundred members and keeps, for each,
every substring of one to three characters of its members' names and
e-mails: a search asks which ranges may hold it,
in order, and walks those alone off the name index.

A member who joins or is renamed is noted in membership_search_pending (the
triggers), which a search reads beside the ranges, until the worker's
housekeeping adds them to their range (models/search_order.py). Every
member already here is noted so: the housekeeping cuts the ranges.

Revision ID: d5f7a9c1e3b6
Revises: c8e0a2b4d6f8
"""

from alembic import op

revision = "d5f7a9c1e3b6"
down_revision = "c8e0a2b4d6f8"
branch_labels = None
depends_on = None

UP = [
    """CREATE TABLE membership_search_bucket (
        org_id INTEGER NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
        first_name VARCHAR(200) COLLATE "C" NOT NULL,
        first_id INTEGER NOT NULL,
        next_name VARCHAR(200) COLLATE "C",
        next_id INTEGER,
        members INTEGER NOT NULL,
        grams TEXT[] NOT NULL,
        PRIMARY KEY (org_id, first_name, first_id)
    )""",
    "CREATE INDEX membership_search_bucket_grams ON membership_search_bucket USING gin (grams)",
    # The ranges that may hold every one of `wanted`, unordered, each with
    # its end (the last range's: past any name). Planned here with the GIN
    # index as its only way: asked in order, the planner may walk the
    # ranges testing each one's grams, and each is a TOASTed array.
    """CREATE FUNCTION membership_search_buckets(org integer, wanted text[])
    RETURNS TABLE (first_name varchar, first_id integer, next_name varchar, next_id integer)
    LANGUAGE sql STABLE SET enable_seqscan = off AS $$
        WITH held AS MATERIALIZED (
            SELECT b.org_id, b.first_name, b.first_id, b.next_name, b.next_id
              FROM membership_search_bucket b WHERE b.grams @> wanted)
        SELECT h.first_name, h.first_id, coalesce(h.next_name, repeat(chr(1114111), 201)), coalesce(h.next_id, 0)
          FROM held h WHERE h.org_id = org
    $$""",
    """CREATE TABLE membership_search_pending (
        id BIGSERIAL PRIMARY KEY,
        org_id INTEGER NOT NULL,
        membership_id INTEGER NOT NULL REFERENCES membership (id) ON DELETE CASCADE
    )""",
    "CREATE INDEX membership_search_pending_org ON membership_search_pending (org_id, id)",
    "CREATE INDEX membership_search_pending_member ON membership_search_pending (membership_id)",
    """CREATE FUNCTION membership_search_pending_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO membership_search_pending (org_id, membership_id) SELECT org_id, id FROM new_rows;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER membership_search_pending_insert AFTER INSERT ON membership
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION membership_search_pending_insert()""",
    """CREATE FUNCTION membership_search_pending_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO membership_search_pending (org_id, membership_id)
             SELECT n.org_id, n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
              WHERE (o.org_id, o.name_folded, o.email) IS DISTINCT FROM (n.org_id, n.name_folded, n.email);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER membership_search_pending_update AFTER UPDATE ON membership
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION membership_search_pending_update()""",
    "INSERT INTO membership_search_pending (org_id, membership_id) SELECT org_id, id FROM membership ORDER BY id",
]

DOWN = [
    "DROP TRIGGER IF EXISTS membership_search_pending_update ON membership",
    "DROP TRIGGER IF EXISTS membership_search_pending_insert ON membership",
    "DROP FUNCTION IF EXISTS membership_search_pending_update()",
    "DROP FUNCTION IF EXISTS membership_search_pending_insert()",
    "DROP TABLE IF EXISTS membership_search_pending",
    "DROP FUNCTION IF EXISTS membership_search_buckets(integer, text[])",
    "DROP TABLE IF EXISTS membership_search_bucket",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in UP:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWN:
            op.execute(statement)
