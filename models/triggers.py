"""Every trigger in the database, as the migrations leave it today.

The migrations are the history and stay as they were written; this module is
the present: each trigger, what it keeps true, and its definition on SQLite
and on PostgreSQL. tests/test_migrations.py checks that a migrated database
has exactly these, so a migration that adds, changes or drops a trigger
changes this module too.

Code that reads what a trigger maintains (organization.member_count,
department_count, member_block, access_block, membership_search,
share_tally, recipient.in_mailbox) never writes it.
"""

from dataclasses import dataclass

from models.search_order import ORDERED_TABLE, ORG_KEYS, PAD


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
    "membership_search), which the member table's text search reads. Each value is indexed "
    "with two U+0001 after it, so that every letter or two of it begin a trigram "
    "(models.members.short_match). PostgreSQL's GIN trigram indexes need no trigger."
)
ORDERED_SEARCH_INDEX = (
    "SQLite: membership.search_key and the FTS5 table membership_search_ordered, the same "
    "entries as membership_search under a key in the organization's order of (name_folded, id) "
    "(models.search_order): a member who joins or is renamed takes the key halfway between its "
    "ordered neighbours', or none (NULL, left out) when no key is left between them."
)
SEARCH_PENDING = (
    "PostgreSQL: membership_search_pending notes each member who joins or whose name, e-mail or "
    "organization changes, whom a search reads beside the ranges of membership_search_bucket until "
    "the housekeeping adds them to theirs (models.search_order)."
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
MEMBER_BLOCKS = (
    "member_block: the organization's members as bit blocks, which a grant to every member "
    "reads instead of its members' rows."
)
SHARE_TALLY = (
    "share_tally: a share's recipients by state, those who answered (responded_at) and those a "
    "letter reached (in_mailbox, or the delivered state), read by the status page instead of counting."
)
IN_MAILBOX = "recipient.in_mailbox: a letter of any round reached the recipient's mailbox (delivery.delivered_at)."

# The ordered search index's key for the row `new` (models.search_order):
# halfway between the keys of its ordered neighbours in (name_folded, id),
# or the ends of the organization's range; NULL when they stand next to each
# other. Then its entry.
_NEIGHBOUR = """(SELECT m.search_key FROM membership m
                   WHERE m.org_id = new.org_id AND m.search_key IS NOT NULL AND m.id != new.id
                     AND (m.name_folded, m.id) {op} (new.name_folded, new.id)
                   ORDER BY m.name_folded {direction}, m.id {direction} LIMIT 1)"""
_SQLITE_TAKE_KEY = f"""UPDATE membership SET search_key = (
            SELECT CASE WHEN hi - lo >= 2 THEN lo + (hi - lo) / 2 END
              FROM (SELECT coalesce({_NEIGHBOUR.format(op="<", direction="DESC")}, new.org_id * {ORG_KEYS}) AS lo,
                           coalesce({_NEIGHBOUR.format(op=">", direction="ASC")}, (new.org_id + 1) * {ORG_KEYS}) AS hi))
         WHERE id = new.id;
        INSERT INTO {ORDERED_TABLE}(rowid, name_folded, email)
             SELECT search_key, name_folded || {PAD}, email || {PAD} FROM membership
              WHERE id = new.id AND search_key IS NOT NULL;"""
_SQLITE_DROP_KEY = f"""INSERT INTO {ORDERED_TABLE}({ORDERED_TABLE}, rowid, name_folded, email)
             SELECT 'delete', old.search_key, old.name_folded || {PAD}, old.email || {PAD}
              WHERE old.search_key IS NOT NULL;"""

# A recipient row's tally names, each with its sign (SQLite: one row, `r`
# is old or new; PostgreSQL: a transition table's rows).
_SQLITE_NAMES = """SELECT {r}.state AS k, {d} AS d
                UNION ALL SELECT 'responded_at', {d} WHERE {r}.responded_at IS NOT NULL
                UNION ALL SELECT 'in_mailbox', {d} WHERE {r}.in_mailbox OR {r}.state = 'delivered'"""
_PG_NAMES = """SELECT share_id, state AS k, {d} AS d FROM {rows}
                UNION ALL SELECT share_id, 'responded_at', {d} FROM {rows} WHERE responded_at IS NOT NULL
                UNION ALL SELECT share_id, 'in_mailbox', {d} FROM {rows} WHERE in_mailbox OR state = 'delivered'"""


# A share's tally goes with the share (SQLite: share_tally_share_gone); its
# recipients deleted after it, or by the cascade, count nothing.
_SQLITE_SHARE_LIVES = "\n              WHERE EXISTS (SELECT 1 FROM share WHERE share.id = old.share_id)"
_PG_SHARE_LIVES = "\n              WHERE EXISTS (SELECT 1 FROM share s WHERE s.id = t.share_id)"


def _sqlite_tally(event: str, of: str, parts: list[tuple[str, str]], guard: str = "") -> str:
    names = "\n                UNION ALL ".join(_SQLITE_NAMES.format(r=r, d=d) for r, d in parts)
    return f"""
CREATE TRIGGER share_tally_{event} AFTER {of} ON recipient BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT {parts[-1][0]}.share_id, k, sum(d) FROM ({names}){guard}
              GROUP BY k HAVING sum(d) != 0
        ON CONFLICT (share_id, name) DO UPDATE SET n = n + excluded.n;
    END
"""


def _pg_tally(event: str, referencing: str, parts: list[tuple[str, str]], guard: str = "") -> tuple[str, str]:
    # In one order of (share, name), so that two workers' statements never
    # wait on each other's tally rows in a circle.
    names = "\n                UNION ALL ".join(_PG_NAMES.format(rows=rows, d=d) for rows, d in parts)
    return (
        f"""
CREATE FUNCTION share_tally_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT share_id, k, sum(d) FROM ({names}) t{guard}
              GROUP BY share_id, k HAVING sum(d) <> 0 ORDER BY share_id, k
        ON CONFLICT (share_id, name) DO UPDATE SET n = share_tally.n + excluded.n;
        RETURN NULL;
    END $$
""",
        f"""
CREATE TRIGGER share_tally_{event} AFTER {event.upper()} ON recipient
    REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION share_tally_{event}()
""",
    )


TALLY_TRIGGERS = (
    Trigger(
        name="membership_search_pending_insert",
        table="membership",
        maintains=SEARCH_PENDING,
        sqlite=None,
        postgresql=(
            """
CREATE FUNCTION membership_search_pending_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO membership_search_pending (org_id, membership_id) SELECT org_id, id FROM new_rows;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER membership_search_pending_insert AFTER INSERT ON membership
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION membership_search_pending_insert()
""",
        ),
    ),
    Trigger(
        name="membership_search_pending_update",
        table="membership",
        maintains=SEARCH_PENDING,
        sqlite=None,
        postgresql=(
            """
CREATE FUNCTION membership_search_pending_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO membership_search_pending (org_id, membership_id)
             SELECT n.org_id, n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
              WHERE (o.org_id, o.name_folded, o.email) IS DISTINCT FROM (n.org_id, n.name_folded, n.email);
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER membership_search_pending_update AFTER UPDATE ON membership
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION membership_search_pending_update()
""",
        ),
    ),
    Trigger(
        name="share_tally_insert",
        table="recipient",
        maintains=SHARE_TALLY,
        sqlite=_sqlite_tally("insert", "INSERT", [("new", "1")]),
        postgresql=_pg_tally("insert", "NEW TABLE AS new_rows", [("new_rows", "1")]),
    ),
    Trigger(
        name="share_tally_delete",
        table="recipient",
        maintains=SHARE_TALLY,
        sqlite=_sqlite_tally("delete", "DELETE", [("old", "-1")], _SQLITE_SHARE_LIVES),
        postgresql=_pg_tally("delete", "OLD TABLE AS old_rows", [("old_rows", "-1")], _PG_SHARE_LIVES),
    ),
    Trigger(
        name="share_tally_share_gone",
        table="share",
        maintains=SHARE_TALLY,
        # PostgreSQL's foreign key cascades; SQLite here enforces none.
        sqlite="""
CREATE TRIGGER share_tally_share_gone AFTER DELETE ON share BEGIN
        DELETE FROM share_tally WHERE share_id = old.id;
    END
""",
        postgresql=None,
    ),
    Trigger(
        name="share_tally_update",
        table="recipient",
        maintains=SHARE_TALLY,
        # PostgreSQL allows no column list beside transition tables; an update
        # of other columns nets to nothing and writes no row.
        sqlite=_sqlite_tally("update", "UPDATE OF state, responded_at, in_mailbox", [("old", "-1"), ("new", "1")]),
        postgresql=_pg_tally(
            "update", "OLD TABLE AS old_rows NEW TABLE AS new_rows", [("old_rows", "-1"), ("new_rows", "1")]
        ),
    ),
    Trigger(
        name="recipient_in_mailbox",
        table="delivery",
        maintains=IN_MAILBOX,
        sqlite="""
CREATE TRIGGER recipient_in_mailbox AFTER UPDATE OF delivered_at ON delivery
    WHEN new.delivered_at IS NOT NULL BEGIN
        UPDATE recipient SET in_mailbox = 1 WHERE id = new.recipient_id AND NOT in_mailbox;
    END
""",
        postgresql=(
            """
CREATE FUNCTION recipient_in_mailbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE recipient r SET in_mailbox = true
          FROM (SELECT DISTINCT recipient_id FROM new_rows WHERE delivered_at IS NOT NULL ORDER BY recipient_id) n
         WHERE r.id = n.recipient_id AND NOT r.in_mailbox;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER recipient_in_mailbox AFTER UPDATE ON delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION recipient_in_mailbox()
""",
        ),
    ),
)

TRIGGERS = (
    Trigger(
        name="membership_search_insert",
        table="membership",
        maintains=SEARCH_INDEX,
        sqlite="""
CREATE TRIGGER membership_search_insert AFTER INSERT ON membership BEGIN
        INSERT INTO membership_search(rowid, name_folded, email)
        VALUES (new.id, new.name_folded || char(1, 1), new.email || char(1, 1));
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
        VALUES ('delete', old.id, old.name_folded || char(1, 1), old.email || char(1, 1));
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
        VALUES ('delete', old.id, old.name_folded || char(1, 1), old.email || char(1, 1));
        INSERT INTO membership_search(rowid, name_folded, email)
        VALUES (new.id, new.name_folded || char(1, 1), new.email || char(1, 1));
    END
""",
        postgresql=None,
    ),
    Trigger(
        name="membership_search_ordered_insert",
        table="membership",
        maintains=ORDERED_SEARCH_INDEX,
        sqlite=f"""
CREATE TRIGGER membership_search_ordered_insert AFTER INSERT ON membership BEGIN
        {_SQLITE_TAKE_KEY}
    END
""",
        postgresql=None,
    ),
    Trigger(
        name="membership_search_ordered_delete",
        table="membership",
        maintains=ORDERED_SEARCH_INDEX,
        sqlite=f"""
CREATE TRIGGER membership_search_ordered_delete AFTER DELETE ON membership BEGIN
        {_SQLITE_DROP_KEY}
    END
""",
        postgresql=None,
    ),
    Trigger(
        name="membership_search_ordered_update",
        table="membership",
        maintains=ORDERED_SEARCH_INDEX,
        # A new name or organization is a new place in the order; a new
        # e-mail, a new entry, taken as a newcomer's.
        sqlite=f"""
CREATE TRIGGER membership_search_ordered_update AFTER UPDATE OF name_folded, email, org_id ON membership BEGIN
        {_SQLITE_DROP_KEY}
        {_SQLITE_TAKE_KEY}
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


def _sqlite_member_add(r: str) -> str:
    return f"""INSERT INTO member_block (org_id, block, bits, members) VALUES ({r}.org_id, {r}.id / 62, 1 << ({r}.id % 62), 1)
          ON CONFLICT (org_id, block) DO UPDATE SET bits = bits | excluded.bits, members = members + 1;"""


def _sqlite_member_remove(r: str) -> str:
    return f"""UPDATE member_block SET bits = bits & ~(1 << ({r}.id % 62)), members = members - 1
         WHERE org_id = {r}.org_id AND block = {r}.id / 62;
        DELETE FROM member_block WHERE org_id = {r}.org_id AND block = {r}.id / 62 AND members <= 0;"""


# The rows' blocks, in one order of (org, block), so that two statements
# never wait on each other's block rows in a circle.
_PG_MEMBER_BLOCKS = """SELECT org_id, id / 62 AS block, CAST(sum(CAST(1 AS BIGINT) << (id % 62)) AS BIGINT) AS bits,
                       count(*) AS c FROM {rows} GROUP BY org_id, id / 62 ORDER BY org_id, id / 62"""

MEMBER_BLOCK_TRIGGERS = (
    Trigger(
        name="member_block_insert",
        table="membership",
        maintains=MEMBER_BLOCKS,
        sqlite=f"""
CREATE TRIGGER member_block_insert AFTER INSERT ON membership BEGIN
        {_sqlite_member_add("new")}
    END
""",
        postgresql=(
            f"""
CREATE FUNCTION member_block_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO member_block (org_id, block, bits, members)
             SELECT org_id, block, bits, c FROM ({_PG_MEMBER_BLOCKS.format(rows="new_rows")}) n
        ON CONFLICT (org_id, block) DO UPDATE
               SET bits = member_block.bits | excluded.bits, members = member_block.members + excluded.members;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER member_block_insert AFTER INSERT ON membership
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_block_insert()
""",
        ),
    ),
    Trigger(
        name="member_block_delete",
        table="membership",
        maintains=MEMBER_BLOCKS,
        sqlite=f"""
CREATE TRIGGER member_block_delete AFTER DELETE ON membership BEGIN
        {_sqlite_member_remove("old")}
    END
""",
        postgresql=(
            f"""
CREATE FUNCTION member_block_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE member_block m SET bits = m.bits & ~o.bits, members = m.members - o.c
          FROM ({_PG_MEMBER_BLOCKS.format(rows="old_rows")}) o
         WHERE m.org_id = o.org_id AND m.block = o.block;
        DELETE FROM member_block m USING (SELECT DISTINCT org_id, id / 62 AS block FROM old_rows) o
         WHERE m.org_id = o.org_id AND m.block = o.block AND m.members <= 0;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER member_block_delete AFTER DELETE ON membership
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION member_block_delete()
""",
        ),
    ),
    Trigger(
        name="member_block_update",
        table="membership",
        maintains=MEMBER_BLOCKS,
        # Only a membership that changes organization or id moves; a row-level
        # trigger with a column list costs other updates nothing.
        sqlite=f"""
CREATE TRIGGER member_block_update AFTER UPDATE OF org_id, id ON membership
    WHEN old.org_id IS NOT new.org_id OR old.id IS NOT new.id BEGIN
        {_sqlite_member_remove("old")}
        {_sqlite_member_add("new")}
    END
""",
        postgresql=(
            """
CREATE FUNCTION member_block_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE member_block SET bits = bits & ~(CAST(1 AS BIGINT) << (OLD.id % 62)), members = members - 1
         WHERE org_id = OLD.org_id AND block = OLD.id / 62;
        DELETE FROM member_block WHERE org_id = OLD.org_id AND block = OLD.id / 62 AND members <= 0;
        INSERT INTO member_block (org_id, block, bits, members)
             VALUES (NEW.org_id, NEW.id / 62, CAST(1 AS BIGINT) << (NEW.id % 62), 1)
        ON CONFLICT (org_id, block) DO UPDATE SET bits = member_block.bits | excluded.bits, members = member_block.members + 1;
        RETURN NULL;
    END $$
""",
            """
CREATE TRIGGER member_block_update AFTER UPDATE OF org_id, id ON membership
    FOR EACH ROW WHEN (((old.org_id IS DISTINCT FROM new.org_id) OR (old.id <> new.id)))
    EXECUTE FUNCTION member_block_update()
""",
        ),
    ),
)


def triggers_on(dialect: str) -> dict[str, Trigger]:
    """The triggers a database of this dialect has, by name."""
    field = "sqlite" if dialect == "sqlite" else "postgresql"
    return {t.name: t for t in (*TRIGGERS, *MEMBER_BLOCK_TRIGGERS, *TALLY_TRIGGERS) if getattr(t, field) is not None}
