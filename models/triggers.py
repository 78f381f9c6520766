"""Every trigger in the database, as the migrations leave it today.

The migrations are the history and stay as they were written; this module is
the present: each trigger, what it keeps true, and its definition on SQLite
and on PostgreSQL. tests/test_migrations.py checks that a migrated database
has exactly these, so a migration that adds, changes or drops a trigger
changes this module too.

Code that reads what a trigger maintains (organization.member_count,
department_count, access_block, membership_search) never writes it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str  # the table it fires on
    maintains: str
    sqlite: str | None  # CREATE TRIGGER
    postgresql: tuple[str, str] | None  # CREATE FUNCTION, CREATE TRIGGER; None: not on PostgreSQL


# What each trigger keeps true.
SEARCH_INDEX = (
    "The SQLite trigram index of members' folded names and e-mails (the FTS5 table "
    "membership_search), which the member table's text search reads. PostgreSQL's GIN "
    "trigram indexes need no trigger."
)
MEMBER_COUNT = (
    "organization.member_count: the number of members, read by the member table and the "
    "access counts instead of counting."
)
ACCESS_OF_LEAVERS = (
    "access_block: a member who leaves loses their bit, so the count of who has access "
    "stays true and a newcomer given the same id never inherits access."
)
DEPARTMENT_COUNT = (
    "department_count: members per department, so that a department filter knows its size without counting."
)

TRIGGERS = (
    Trigger(
        name="membership_search_insert",
        table="membership",
        maintains=SEARCH_INDEX,
        sqlite="""
CREATE TRIGGER membership_search_insert AFTER INSERT ON membership BEGIN
        INSERT INTO membership_search(rowid, name_folded, email) VALUES (new.id, new.name_folded, new.email);
    END
""",
        postgresql=None,
    ),
    Trigger(
        name="membership_search_delete",
        table="membership",
        maintains=SEARCH_INDEX,
        sqlite="""
CREATE TRIGGER membership_search_delete AFTER DELETE ON membership BEGIN
        INSERT INTO membership_search(membership_search, rowid, name_folded, email)
        VALUES ('delete', old.id, old.name_folded, old.email);
    END
""",
        postgresql=None,
    ),
    Trigger(
        name="membership_search_update",
        table="membership",
        maintains=SEARCH_INDEX,
        sqlite="""
CREATE TRIGGER membership_search_update AFTER UPDATE OF name_folded, email ON membership BEGIN
        INSERT INTO membership_search(membership_search, rowid, name_folded, email)
        VALUES ('delete', old.id, old.name_folded, old.email);
        INSERT INTO membership_search(rowid, name_folded, email) VALUES (new.id, new.name_folded, new.email);
    END
""",
        postgresql=None,
    ),
    Trigger(
        name="organization_member_count_insert",
        table="membership",
        maintains=MEMBER_COUNT,
        sqlite="""
CREATE TRIGGER organization_member_count_insert AFTER INSERT ON membership BEGIN
        UPDATE organization SET member_count = member_count + 1 WHERE id = new.org_id;
    END
""",
        postgresql=(
            """
CREATE FUNCTION organization_member_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE organization o SET member_count = o.member_count + n.c
          FROM (SELECT org_id, count(*) AS c FROM new_rows GROUP BY org_id) n WHERE o.id = n.org_id;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER organization_member_count_insert AFTER INSERT ON membership
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_member_count_insert()
""",
        ),
    ),
    Trigger(
        name="organization_member_count_delete",
        table="membership",
        maintains=MEMBER_COUNT,
        sqlite="""
CREATE TRIGGER organization_member_count_delete AFTER DELETE ON membership BEGIN
        UPDATE organization SET member_count = member_count - 1 WHERE id = old.org_id;
    END
""",
        postgresql=(
            """
CREATE FUNCTION organization_member_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE organization o SET member_count = o.member_count - n.c
          FROM (SELECT org_id, count(*) AS c FROM old_rows GROUP BY org_id) n WHERE o.id = n.org_id;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER organization_member_count_delete AFTER DELETE ON membership
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_member_count_delete()
""",
        ),
    ),
    Trigger(
        name="access_block_member_gone",
        table="membership",
        maintains=ACCESS_OF_LEAVERS,
        sqlite="""
CREATE TRIGGER access_block_member_gone AFTER DELETE ON membership BEGIN
        UPDATE access_block SET bits = bits & ~(1 << (old.id % 62)), members = members - 1
         WHERE org_id = old.org_id AND block = old.id / 62 AND (bits & (1 << (old.id % 62))) != 0;
        DELETE FROM access_block WHERE org_id = old.org_id AND block = old.id / 62 AND members <= 0;
    END
""",
        postgresql=(
            """
CREATE FUNCTION access_block_member_gone() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE access_block SET bits = bits & ~(CAST(1 AS BIGINT) << (OLD.id % 62)), members = members - 1
         WHERE org_id = OLD.org_id AND block = OLD.id / 62
           AND (bits & (CAST(1 AS BIGINT) << (OLD.id % 62))) != 0;
        DELETE FROM access_block WHERE org_id = OLD.org_id AND block = OLD.id / 62 AND members <= 0;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER access_block_member_gone AFTER DELETE ON membership
    FOR EACH ROW EXECUTE FUNCTION access_block_member_gone()
""",
        ),
    ),
    Trigger(
        name="department_count_insert",
        table="membership",
        maintains=("department_count, members per department, so a department filter knows its size without counting "),
        sqlite="""
CREATE TRIGGER department_count_insert AFTER INSERT ON membership BEGIN
        INSERT INTO department_count (org_id, department, members) VALUES (new.org_id, new.department, 1)
          ON CONFLICT (org_id, department) DO UPDATE SET members = members + 1;
    END
""",
        postgresql=(
            """
CREATE FUNCTION department_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO department_count (org_id, department, members)
             SELECT org_id, department, count(*) FROM new_rows GROUP BY org_id, department
        ON CONFLICT (org_id, department) DO UPDATE SET members = department_count.members + excluded.members;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER department_count_insert AFTER INSERT ON membership
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION department_count_insert()
""",
        ),
    ),
    Trigger(
        name="department_count_delete",
        table="membership",
        maintains=("department_count, members per department, so a department filter knows its size without counting "),
        sqlite="""
CREATE TRIGGER department_count_delete AFTER DELETE ON membership BEGIN
        UPDATE department_count SET members = members - 1
         WHERE org_id = old.org_id AND department = old.department;
    END
""",
        postgresql=(
            """
CREATE FUNCTION department_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE department_count d SET members = d.members - o.c
          FROM (SELECT org_id, department, count(*) AS c FROM old_rows GROUP BY org_id, department) o
         WHERE d.org_id = o.org_id AND d.department = o.department;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER department_count_delete AFTER DELETE ON membership
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION department_count_delete()
""",
        ),
    ),
    Trigger(
        name="department_count_update",
        table="membership",
        maintains=("department_count, members per department, so a department filter knows its size without counting "),
        sqlite="""
CREATE TRIGGER department_count_update AFTER UPDATE OF org_id, department ON membership BEGIN
        UPDATE department_count SET members = members - 1
         WHERE org_id = old.org_id AND department = old.department;
        INSERT INTO department_count (org_id, department, members) VALUES (new.org_id, new.department, 1)
          ON CONFLICT (org_id, department) DO UPDATE SET members = members + 1;
    END
""",
        postgresql=(
            """
CREATE FUNCTION department_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE department_count d SET members = d.members - m.c
          FROM (SELECT o.org_id, o.department, count(*) AS c
                  FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE (o.org_id, o.department) IS DISTINCT FROM (n.org_id, n.department)
                 GROUP BY o.org_id, o.department) m
         WHERE d.org_id = m.org_id AND d.department = m.department;
        INSERT INTO department_count (org_id, department, members)
             SELECT n.org_id, n.department, count(*)
               FROM old_rows o JOIN new_rows n ON n.id = o.id
              WHERE (o.org_id, o.department) IS DISTINCT FROM (n.org_id, n.department)
              GROUP BY n.org_id, n.department
        ON CONFLICT (org_id, department) DO UPDATE SET members = department_count.members + excluded.members;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER department_count_update AFTER UPDATE ON membership
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION department_count_update()
""",
        ),
    ),
)


def triggers_on(dialect: str) -> dict[str, Trigger]:
    """The triggers a database of this dialect has, by name."""
    field = "sqlite" if dialect == "sqlite" else "postgresql"
    return {t.name: t for t in TRIGGERS if getattr(t, field) is not None}
