"""SQLite: the member search index in name order.

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
