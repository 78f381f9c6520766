"""The member search in name order: on SQLite an index keyed so, on
PostgreSQL ranges of that order (below).

A search with many matches finds its page by walking the table in name order
and testing each member (models.members). Where its matches stand together
far down that order (every "Prof." of a million members sorts under P), the
walk read most of the table, and sorting the matches instead read each of
them. A second FTS5 trigram table, membership_search_ordered, has the same
entries under a key that follows the table's order, membership.search_key:
asked for its matches ORDER BY rowid, FTS5 gives them in name order and the
page's come first.

The key is the organization's id times ORG_KEYS (so an organization's
members are one range of keys), plus a place in its order of (name_folded,
id). `order_search_index` numbers an organization's members SPACING apart;
a member who joins or is renamed later takes the key halfway between its
neighbours' (the triggers of models/triggers.py). Where no key is left
between them, the member is left out (search_key NULL): the search reads
those from an index of their own (`UNORDERED_INDEX`) beside the ordered
walk, and past UNORDERED_MAX of them an organization is searched as
without this table, until `order_search_index` numbers it again.
"""

from sqlalchemy import bindparam, text

from extensions import db

ORG_KEYS = 1 << 40
SPACING = 1 << 20
# Members left out of the order (search_key NULL) that a search reads beside
# the ordered walk; past this many it does without the ordered table.
UNORDERED_MAX = 2_000
ORDERED_TABLE = "membership_search_ordered"
UNORDERED_INDEX = "membership_search_unordered"
PAD = "char(1, 1)"  # as membership_search's entries: models.members.short_match


def _entries(action: str) -> str:
    """The ordered table's entries of one organization's ordered members:
    inserted, or with action 'delete' (contentless: it is told the values
    it indexed)."""
    if action == "delete":
        into, head = f"{ORDERED_TABLE}({ORDERED_TABLE}, rowid, name_folded, email)", "'delete', "
    else:
        into, head = f"{ORDERED_TABLE}(rowid, name_folded, email)", ""
    return (
        f"INSERT INTO {into} SELECT {head}search_key, name_folded || {PAD}, email || {PAD}"
        " FROM membership WHERE org_id = :org AND search_key IS NOT NULL ORDER BY search_key"
    )


def order_search_index(org_id: int) -> int:
    """Number the organization's members anew in name order, SPACING apart
    (closer in an organization too large for that), and index them so:
    every member is in the order again. Returns how many. SQLite only; in
    the caller's transaction. A million members take seconds: for a bulk
    load (flask seed-demo) and the worker's housekeeping
    (`order_where_many_are_left_out`), not a request."""
    if db.engine.dialect.name != "sqlite":
        return 0
    params = {"org": org_id}
    db.session.execute(text(_entries("delete")), params)
    n = db.session.scalar(text("SELECT count(*) FROM membership WHERE org_id = :org"), params)
    spacing = min(SPACING, ORG_KEYS // (n + 1))
    db.session.execute(
        text(
            "UPDATE membership SET search_key = :base + place * :spacing FROM"
            " (SELECT id AS member, row_number() OVER (ORDER BY name_folded, id) AS place"
            "    FROM membership WHERE org_id = :org) WHERE id = member"
        ).bindparams(bindparam("base"), bindparam("spacing")),
        {**params, "base": org_id * ORG_KEYS, "spacing": spacing},
    )
    db.session.execute(text(_entries("insert")), params)
    return n


def unordered_count(org_id: int, bound: int = UNORDERED_MAX) -> int:
    """The organization's members left out of the order, counted to one
    past `bound` (off UNORDERED_INDEX)."""
    return db.session.scalar(
        text("SELECT count(*) FROM (SELECT 1 FROM membership WHERE org_id = :org AND search_key IS NULL LIMIT :limit)"),
        {"org": org_id, "limit": bound + 1},
    )


def order_where_many_are_left_out() -> list[int]:
    """Number anew each organization with more than half UNORDERED_MAX
    members left out of the order, before its searches do without it (the
    worker's housekeeping, each interval). Returns their ids. SQLite only;
    in the caller's transaction."""
    if db.engine.dialect.name != "sqlite":
        return []
    crowded = list(
        db.session.scalars(
            text(
                "SELECT org_id FROM membership WHERE search_key IS NULL"
                " GROUP BY org_id HAVING count(*) > :many ORDER BY org_id"
            ),
            {"many": UNORDERED_MAX // 2},
        )
    )
    for org_id in crowded:
        order_search_index(org_id)
    return crowded


# PostgreSQL: the same order by ranges of members (membership_search_bucket).
# GIN gives a search's matches in no order, and a table's rows have no key
# to number: instead each organization's order of (name_folded, id) is cut
# into ranges of about BUCKET_MEMBERS members, each keeping every substring
# of one to three characters of its members' names and e-mails
# (every substring of
# one to three characters). A search asks which ranges may hold it, in
# order (membership_search_buckets), and walks those alone off the name
# index (models.members). The ranges cover the whole order (the first from
# the empty name, the last to past any name), so every member stands in one.
# A member who joins or is renamed is noted in PENDING_TABLE (triggers of
# models/triggers.py) and read beside the ranges until `fold_pending` adds
# its substrings to its range: every member is either pending or held by
# its range's substrings. Those of a member who left stay until the range
# is cut again: a range may be asked for in vain, never missed.
BUCKET_TABLE = "membership_search_bucket"
PENDING_TABLE = "membership_search_pending"
BUCKET_MEMBERS = 256
# Ranges cut by one statement: its substrings sorted in memory.
CUT_CHUNK = 100
_LOCK = 0x5EA2C4  # pg_advisory_xact_lock(_LOCK, org): one cut or fold at a time


def search_grams(folded: str) -> list[str]:
    """What a range must hold for a member in it to hold `folded`: its
    distinct trigrams, or itself when shorter."""
    if len(folded) < 3:
        return [folded]
    return list(dict.fromkeys(folded[i : i + 3] for i in range(len(folded) - 2)))


def pending_count(org_id: int, bound: int = UNORDERED_MAX) -> int:
    """The organization's pending members (PostgreSQL), counted to one past `bound`."""
    return db.session.scalar(
        text(f"SELECT count(*) FROM (SELECT 1 FROM {PENDING_TABLE} WHERE org_id = :org LIMIT :limit) p"),
        {"org": org_id, "limit": bound + 1},
    )


def _lock(org_id: int) -> None:
    db.session.execute(text("SELECT pg_advisory_xact_lock(:lock, :org)"), {"lock": _LOCK, "org": org_id})


def member_grams(*values: str) -> set[str]:
    """Every substring of one to three characters of `values`: what a
    range keeps of its members' folded names and e-mails."""
    held = set()
    for value in values:
        for n in (1, 2, 3):
            held.update(value[i : i + n] for i in range(len(value) - n + 1))
    return held


def _insert_ranges(org_id: int, ranges: list[dict]) -> None:
    if ranges:
        db.session.execute(
            text(
                f"INSERT INTO {BUCKET_TABLE} (org_id, first_name, first_id, next_name, next_id, members, grams)"
                " VALUES (:org, :first_name, :first_id, :next_name, :next_id, :members, :grams)"
            ),
            [{"org": org_id, **r, "grams": sorted(r["grams"])} for r in ranges],
        )


def _cut(org_id: int, start: tuple[str, int], end: tuple[str, int] | None) -> int:
    """Ranges of BUCKET_MEMBERS for the members from `start` up to `end`
    (None: the end of the order), the first from `start` itself and the last
    to `end`. Returns how many members they hold. Read a chunk at a time, so
    memory does not grow with the organization."""
    until = "AND (name_folded, id) < (:end_name, :end_id)" if end else ""
    chunk = BUCKET_MEMBERS * CUT_CHUNK
    query = text(
        "SELECT name_folded, id, email FROM membership WHERE org_id = :org"
        f" AND (name_folded, id) >= (:at_name, :at_id) {until} ORDER BY name_folded, id LIMIT :limit"
    )
    params = {"org": org_id, "limit": chunk + 1, "end_name": end and end[0], "end_id": end and end[1]}
    at, total, ranges = start, 0, []
    current = {"first_name": start[0], "first_id": start[1], "members": 0, "grams": set()}
    while True:
        rows = db.session.execute(query, {**params, "at_name": at[0], "at_id": at[1]}).all()
        for name, member_id, email in rows[:chunk]:
            if current["members"] == BUCKET_MEMBERS:
                ranges.append({**current, "next_name": name, "next_id": member_id})
                current = {"first_name": name, "first_id": member_id, "members": 0, "grams": set()}
            current["members"] += 1
            current["grams"] |= member_grams(name, email)
        total += len(rows[:chunk])
        _insert_ranges(org_id, ranges)
        ranges = []
        if len(rows) <= chunk:
            break
        at = (rows[chunk][0], rows[chunk][1])
    _insert_ranges(org_id, [{**current, "next_name": end and end[0], "next_id": end and end[1]}])
    return total


def cut_search_buckets(org_id: int) -> int:
    """Cut the organization's order into ranges anew (PostgreSQL): every
    member is held by its range again, and none pending. Returns how many
    members. Seconds at a million members: for a bulk load (flask
    seed-demo) and the worker's housekeeping (`fold_pending`). In the
    caller's transaction."""
    if db.engine.dialect.name != "postgresql":
        return 0
    _lock(org_id)
    params = {"org": org_id}
    last = db.session.scalar(text(f"SELECT max(id) FROM {PENDING_TABLE} WHERE org_id = :org"), params)
    db.session.execute(text(f"DELETE FROM {BUCKET_TABLE} WHERE org_id = :org"), params)
    n = _cut(org_id, ("", 0), None)
    if last is not None:
        db.session.execute(
            text(f"DELETE FROM {PENDING_TABLE} WHERE org_id = :org AND id <= :last"), {**params, "last": last}
        )
    return n


def fold_pending(org_id: int) -> int:
    """Add the organization's pending members to their ranges (PostgreSQL),
    and cut anew a range grown past twice BUCKET_MEMBERS; the whole order
    when it has no ranges or a quarter of its members are pending. Returns
    how many were folded. In the caller's transaction."""
    if db.engine.dialect.name != "postgresql":
        return 0
    _lock(org_id)
    params = {"org": org_id}
    last, pending = db.session.execute(
        text(f"SELECT max(id), count(*) FROM {PENDING_TABLE} WHERE org_id = :org"), params
    ).one()
    if not pending:
        return 0
    members, ranges = db.session.execute(
        text(
            "SELECT (SELECT member_count FROM organization WHERE id = :org),"
            f" (SELECT count(*) FROM {BUCKET_TABLE} WHERE org_id = :org)"
        ),
        params,
    ).one()
    if not ranges or pending * 4 > (members or 0):
        cut_search_buckets(org_id)
        return pending
    placed = db.session.execute(
        text(
            f"SELECT DISTINCT b.first_name, b.first_id, m.id, m.name_folded, m.email FROM {PENDING_TABLE} p"
            "  JOIN membership m ON m.id = p.membership_id AND m.org_id = :org CROSS JOIN LATERAL"
            f"      (SELECT first_name, first_id FROM {BUCKET_TABLE}"
            "        WHERE org_id = :org AND (first_name, first_id) <= (m.name_folded, m.id)"
            "        ORDER BY first_name DESC, first_id DESC LIMIT 1) b"
            " WHERE p.org_id = :org AND p.id <= :last"
        ),
        {**params, "last": last},
    ).all()
    added: dict[tuple[str, int], tuple[int, set[str]]] = {}
    for first_name, first_id, _, name, email in placed:
        n, grams = added.get((first_name, first_id), (0, set()))
        added[first_name, first_id] = (n + 1, grams | member_grams(name, email))
    grown = [
        db.session.execute(
            text(
                f"UPDATE {BUCKET_TABLE} SET members = members + :n, grams = ARRAY(SELECT DISTINCT unnest(grams || :grams))"
                " WHERE org_id = :org AND first_name = :name AND first_id = :id"
                " RETURNING first_name, first_id, next_name, next_id, members"
            ),
            {**params, "n": n, "grams": sorted(grams), "name": key[0], "id": key[1]},
        ).one()
        for key, (n, grams) in added.items()
    ]
    db.session.execute(
        text(f"DELETE FROM {PENDING_TABLE} WHERE org_id = :org AND id <= :last"), {**params, "last": last}
    )
    for first_name, first_id, next_name, next_id, held in grown:
        if held > 2 * BUCKET_MEMBERS:
            db.session.execute(
                text(f"DELETE FROM {BUCKET_TABLE} WHERE org_id = :org AND first_name = :name AND first_id = :id"),
                {**params, "name": first_name, "id": first_id},
            )
            _cut(org_id, (first_name, first_id), (next_name, next_id) if next_name is not None else None)
    return pending


def fold_where_pending() -> list[int]:
    """`fold_pending` for each organization with members pending
    (PostgreSQL; the worker's housekeeping, each interval). Returns their
    ids. In the caller's transaction."""
    if db.engine.dialect.name != "postgresql":
        return []
    orgs = list(db.session.scalars(text(f"SELECT DISTINCT org_id FROM {PENDING_TABLE} ORDER BY org_id")))
    for org_id in orgs:
        fold_pending(org_id)
    return orgs
