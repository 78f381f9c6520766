"""The member table shared by the access list and the add picker: filters,
sorting, pagination, and the selection the admin builds across pages.

Everything is SQL over indexes of `membership` (see models.org): the text
search uses the case-folded copies of name and e-mail, so æ/ø/å and case
match on SQLite and PostgreSQL alike.
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from types import SimpleNamespace
from typing import NamedTuple

from sqlalchemy import (
    Text,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from extensions import db
from models import counting
from models.access import AccessExtent, AccessState, EveryMember, access_clause, granted_since
from models.base import PER_PAGE
from models.bitblocks import block_of
from models.org import DepartmentCount, Membership, User, fold
from models.planner import indexed_part, materialized, off_index, unsteered
from models.search_order import (
    ORDERED_TABLE,
    ORG_KEYS,
    PENDING_TABLE,
    UNORDERED_MAX,
    pending_count,
    search_grams,
    unordered_count,
)

MAX_QUERY = 100
# SQLite's key of the search index in name order (models.search_order), a
# column the migrations keep out of the model, as they keep that index.
_SEARCH_KEY = literal_column("membership.search_key")
SORTS = {
    "name": Membership.name_folded,
    "email": Membership.email,
    "department": Membership.department,
    "role": Membership.role,
}


def _text_match(folded: str, rare: bool = False):
    """Members whose folded name or e-mail contains `folded`.

    On SQLite, three characters or more go through the FTS5 trigram index;
    on PostgreSQL the pg_trgm GIN indexes serve the LIKE itself, and one or
    two characters known to be `rare`, which pg_trgm cannot serve, ask the
    index of every member's one- and two-character substrings
    (ix_membership_grams). Not a common letter: its list there is most of the
    members, and tested on each row the function costs more than the LIKE.
    """
    fts = _fts_match(folded)
    if fts.match is not None:
        found = Membership.id.in_(
            select(literal_column("rowid")).select_from(table("membership_search")).where(fts.match)
        )
        return and_(found, _scan_match(folded)) if fts.tested else found
    if rare and len(folded) < 3 and db.engine.dialect.name == "postgresql":
        grams = func.membership_grams(Membership.name_folded, Membership.email, type_=ARRAY(Text))
        return and_(grams.contains([folded]), _scan_match(folded))
    part = indexed_part(folded)
    if part != folded:  # the index asked for the rare part, the rest tested on its rows
        return and_(
            _scan_match(part), _scan_match(folded, off_index(Membership.name_folded), off_index(Membership.email))
        )
    return _scan_match(folded)


def _scan_match(folded: str, name=Membership.name_folded, email=Membership.email):
    """The same test, made on each member's own values (LIKE); on the
    columns of a walk's subquery when given them."""
    pattern = _like_pattern(folded)
    return or_(name.like(pattern, escape="\\"), email.like(pattern, escape="\\"))


class FtsQuery(NamedTuple):
    """What SQLite's FTS5 index is asked for a search (None: not asked),
    and whether its entries need the search tested on their members too
    (`_scan_match`): then they are the members holding its uncommon trigrams.
    `ordered` asks the index in name order (models.search_order) for the
    same trigrams, each one alone (it holds no positions): a walk tests the
    search on what it finds."""

    match: object
    tested: bool = False
    ordered: object = None


def _fts_match(folded: str) -> FtsQuery:
    """The FTS5 query for `folded` on SQLite (three characters or more: the
    trigram tokenizer's least). A phrase reads every trigram's list, and a
    common one (the "sen" of every -sen surname, the "med" of every demo
    e-mail) costs most of it: past counting.PHRASE_TRIGRAMS trigrams, when
    some are common and some not, the index is asked for the others and the
    least common of the common (`_uncommon_trigrams`), and the search is
    tested on what they find. When all are common, no few of them find many
    fewer members than all."""
    if len(folded) < 3 or db.engine.dialect.name != "sqlite":
        return FtsQuery(None)
    trigrams = list(dict.fromkeys(folded[i : i + 3] for i in range(len(folded) - 2)))
    if len(trigrams) <= counting.PHRASE_TRIGRAMS:
        return FtsQuery(_match_any([folded]), ordered=_match_all(trigrams, ORDERED_TABLE))
    # The index in name order is walked testing the search on each entry it
    # gives: for a long search a few trigrams that do not overlap find nearly
    # the same ones, and each more is a list to keep up with.
    spaced = list(dict.fromkeys(folded[i : i + 3] for i in range(0, len(folded) - 2, 3)))
    ordered = _match_all(spaced[: counting.PHRASE_TRIGRAMS], ORDERED_TABLE)
    uncommon = _uncommon_trigrams(trigrams)
    if uncommon is None:
        return FtsQuery(false())  # a trigram no member holds
    if not uncommon or len(uncommon) == len(trigrams):
        return FtsQuery(_match_any([folded]), ordered=ordered)
    return FtsQuery(_match_all(uncommon), tested=True, ordered=_match_all(uncommon, ORDERED_TABLE))


def _uncommon_trigrams(trigrams: list[str]) -> list[str] | None:
    """Those of `trigrams` that no more than counting.COMMON_TRIGRAM of the
    members hold, and when some are and some not, the least common of the
    others too, judged by how far the first TRIGRAM_SAMPLE entries of each
    one's FTS5 list reach (in id order, so any stretch of them is a sample
    of members); None when one has no entry. One statement: a few pages of
    each list."""
    # Text, not the expression language: building this union of a
    # subquery per trigram cost more than running it.
    reach = (
        "SELECT {i}, count(*), max(id) FROM (SELECT rowid AS id FROM membership_search"
        " WHERE membership_search MATCH :t{i} ORDER BY rowid LIMIT :sample)"
    )
    statement = " UNION ALL ".join(
        ["SELECT -1, 0, min(id) FROM membership", *(reach.format(i=i) for i in range(len(trigrams)))]
    )
    sample = counting.TRIGRAM_SAMPLE
    params = {f"t{i}": '"' + trigram.replace('"', '""') + '"' for i, trigram in enumerate(trigrams)}
    rows = db.session.execute(text(statement), {"sample": sample, **params}).all()
    first = next(last for i, _, last in rows if i == -1) or 0
    rows = [row for row in rows if row[0] != -1]
    if any(n == 0 for _, n, _ in rows):
        return None
    # A list that ends before `sample` entries is rare.
    density = {trigrams[i]: n / max(1, last - first + 1) if n == sample else None for i, n, last in rows}
    uncommon = [t for t in trigrams if density[t] is None or density[t] <= counting.COMMON_TRIGRAM]
    if not uncommon or len(uncommon) == len(trigrams):
        return uncommon
    # And the least common of the others: the uncommon ones may stand in the
    # same names ("ebb", "bbe" of every Ebbe), where it tells them apart.
    return [*uncommon, min((t for t in trigrams if t not in uncommon), key=density.get)]


def _match_all(phrases: list[str], index: str = "membership_search"):
    """FTS5: the members whose `index` holds every one of `phrases`."""
    quoted = ('"' + phrase.replace('"', '""') + '"' for phrase in phrases)
    return literal_column(index).op("MATCH")(" AND ".join(quoted))


def _match_any(phrases: list[str], index: str = "membership_search"):
    """FTS5: the members whose `index` holds any of `phrases`."""
    quoted = ('"' + phrase.replace('"', '""') + '"' for phrase in phrases)
    return literal_column(index).op("MATCH")(" OR ".join(quoted))


def short_match(folded: str) -> FtsQuery | None:
    """On SQLite, for one or two letters, the FTS5 query that finds the
    members holding them, asked of the index's list of its trigrams
    (membership_search_terms): each value is indexed with two U+0001 after
    it (models/triggers.py), so every place the letters stand in a value
    begins a trigram, and those that begin with them are exactly the ones to
    match. false() when there is none; None elsewhere. Listing them reads
    their entries, so this is for a search already known to be rare."""
    if not 0 < len(folded) < 3 or db.engine.dialect.name != "sqlite":
        return None
    terms = table("membership_search_terms", column("term"))
    trigrams = list(db.session.scalars(select(terms.c.term).where(_starts_with(terms.c.term, folded))))
    if not trigrams:
        return FtsQuery(false())
    return FtsQuery(_match_any(trigrams), ordered=_match_any(trigrams, ORDERED_TABLE))


def _starts_with(column, folded: str):
    """`column` (folded) starts with `folded`, as a range of the column's
    index: both databases compare these columns by code point (SQLite's
    BINARY, PostgreSQL's "C": models.base.code_point_text), where the strings
    with a prefix are those from it up to the prefix with its last character
    one higher."""
    if not folded:
        return false()
    last = ord(folded[-1]) + 1
    if last > 0x10FFFF:
        return column.like(_like_pattern(folded)[1:], escape="\\")
    return and_(column >= folded, column < folded[:-1] + chr(last))


def _prefix_match(folded: str, name=Membership.name_folded, email=Membership.email):
    """Members whose folded name or e-mail starts with `folded`."""
    return or_(_starts_with(name, folded), _starts_with(email, folded))


def _rank(folded: str):
    """0 for an exact match of name or e-mail, 1 for a prefix, 2 for the rest."""
    exact = or_(Membership.name_folded == folded, Membership.email == folded)
    return case((exact, 0), (_prefix_match(folded), 1), else_=2)


def _fell_short(ids, wanted: int) -> bool:
    """A walk that ran on its own (a list of ids) and found fewer than
    `wanted`; a walk inside the page's statement (a SELECT) is judged by the
    page's rows instead."""
    return isinstance(ids, list) and len(ids) < wanted


def printable(text: str) -> str:
    # Control characters (NUL above all) match no name and upset FTS5 and psycopg.
    return "".join(c if c.isprintable() else " " for c in text)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class MemberFilter:
    q: str = ""
    department: str = ""
    role: str = ""

    def conditions(self, text: bool = True, scan: bool = False, rare: bool = False) -> list:
        """The filter as SQL conditions on Membership; without the text
        search when `text` is false (the caller searches by itself), and
        with it tested on each member rather than looked up when `scan` is
        (`rare`: see _text_match)."""
        conditions = []
        if self.q and text:
            folded = fold(self.q)
            conditions.append(_scan_match(folded) if scan else _text_match(folded, rare))
        if self.department:
            department = Membership.department
            if scan and db.engine.dialect.name == "sqlite":
                # Not from the department's index, which lacks the e-mail: the
                # walk goes down the name index, testing the text there, and
                # reads a member's department only when the text matches.
                department = off_index(department)
            conditions.append(department == self.department)
        if self.role:
            conditions.append(Membership.role == self.role)
        return conditions

    def is_empty(self) -> bool:
        return not (self.q or self.department or self.role)


def view_conditions(org_id: int, view: str, extent: AccessExtent = AccessExtent.SOME) -> list:
    """Members of the organization that belong in this view: lacking access
    for "add", having it otherwise. When none or all have access, the answer
    needs no per-row check, and the queries stay on the membership indexes."""
    if extent is not AccessExtent.SOME:
        everyone = (view == "add") == (extent is AccessExtent.NONE)
        return [Membership.org_id == org_id] if everyone else [Membership.org_id == org_id, false()]
    with_access = access_clause(Membership.id, org_id)
    return [Membership.org_id == org_id, ~with_access if view == "add" else with_access]


class Sample(NamedTuple):
    """A search's matches among a sample of the members, in a large organization."""

    matches: int
    members: int
    # The members from its first match to its last (SQLite's FTS5 sample): far
    # fewer than `members` when the matches stand together in id order
    # (e-mails numbered as members were added, "medlem81…"), and the
    # sample is no fair one.
    own_span: int | None = None


class MemberRow(NamedTuple):
    """A row of the member table."""

    id: int
    name: str
    email: str
    department: str
    role: str
    granted_at: datetime | None  # when the member last got access; None in "add"


@dataclass
class MemberTable:
    org_id: int
    view: str
    filter: MemberFilter = field(default_factory=MemberFilter)
    sort: str = "name"
    descending: bool = False
    page: int = 1
    # Who has access, counted (models.access.access_state): lets the table
    # leave out checks and counts it does not need. None: check and count.
    access: AccessState | None = None
    # Count every member in the table, past count_bound ("more than
    # 10,000"): when every match is selected and the selection bar says how many.
    count_all: bool = False
    # PostgreSQL: how many of the ranges in name order a walk may read
    # before it gives up (None: all), and whether it gave up (shown()).
    _ranges_budget: int | None = field(default=None, init=False, repr=False)
    _ranges_gave_up: bool = field(default=False, init=False, repr=False)
    # A search of one or two letters that the first walk found rare (shown()).
    _rare_letters: bool = field(default=False, init=False, repr=False)
    # The page's matches a walk within a window found when it did not fill
    # the page there (PostgreSQL's walks run on their own: _walk_ids).
    _found_in_window: int = field(default=0, init=False, repr=False)
    # The ranked search's exact and prefix matches, counted to each cap asked.
    _best_counts: dict[int, int] = field(default_factory=dict, init=False, repr=False)

    @property
    def extent(self) -> AccessExtent:
        return self.access.extent if self.access else AccessExtent.SOME

    @property
    def known_total(self) -> int | None:
        """The number of members in the table when the access counts tell it:
        without a filter, those with access, or those without."""
        if self.access is None or not self.filter.is_empty():
            return None
        return self.access.granted if self.view != "add" else self.access.members - self.access.granted

    @property
    def counted_by_department(self) -> bool:
        """Whether the table's size is the department's (department_count):
        a department filter alone, when nobody or everybody has access."""
        f = self.filter
        return (
            bool(f.department)
            and not (f.q or f.role)
            and self.access is not None
            and self.extent is not AccessExtent.SOME
        )

    @property
    def first_row(self) -> int:
        return (self.page - 1) * PER_PAGE + 1

    def has_next(self, rows_shown: int, pages: int, exact: bool) -> bool:
        return self.page < pages or (not exact and rows_shown == PER_PAGE)

    @property
    def count_bound(self) -> int | None:
        """Where counting stops; None: it does not."""
        return counting.count_bound(bool(self.filter.q), self.count_all)

    @cached_property
    def _folded(self) -> str:
        return fold(self.filter.q)

    @cached_property
    def _rank(self):
        return _rank(self._folded)

    @cached_property
    def _fts_query(self) -> FtsQuery:
        """The search's FTS5 query (SQLite, three letters or more); shown()
        sets short_match's for one or two rare letters."""
        return _fts_match(self._folded)

    @property
    def _fts(self):
        """The search's FTS5 condition, else None."""
        return self._fts_query.match

    def _conditions(self) -> list:
        return view_conditions(self.org_id, self.view, self.extent) + self.filter.conditions(rare=self._rare_letters)

    def _matches(self, *columns):
        """A SELECT of `columns` over the members matching the search,
        found through the search index: on SQLite a join from the FTS5
        matches (a tenth faster than IN), on PostgreSQL the trigram indexes
        serve the LIKE."""
        fts = self._fts
        if fts is None:
            return select(*columns).where(*self._conditions())
        tested = [_scan_match(self._folded)] if self._fts_query.tested else []
        return (
            select(*columns)
            .select_from(table("membership_search"))
            .join(Membership, Membership.id == literal_column("membership_search.rowid"))
            .where(
                fts, *tested, *view_conditions(self.org_id, self.view, self.extent), *self.filter.conditions(text=False)
            )
        )

    def _count(self, bound: int | None) -> int:
        """How many members the table has, counted to one past `bound`: a
        search through its search index, a filter on the membership indexes."""
        matching = self._matches(Membership.id) if self.filter.q else select(Membership.id).where(*self._conditions())
        if bound is not None:
            matching = matching.limit(bound + 1)
        return db.session.scalar(select(func.count()).select_from(matching.subquery()))

    @property
    def _members(self) -> int:
        """The organization's members, 0 when the access counts are not known."""
        return self.access.members if self.access else 0

    def _search_bound(self) -> int | None:
        return counting.search_bound(self.count_bound, self.page, PER_PAGE, self._members)

    def _walks(self, matches: int) -> bool:
        return bool(self.filter.q) and counting.walks(self.sort, self.page, PER_PAGE, self._members, matches)

    @property
    def _walks_first(self) -> bool:
        """Whether a search first takes a sample, in a large organization
        (shown()): the first FIRST_WALK members in the table's order, where a
        common name fills its page, or on SQLite its first FTS5 entries.
        Counting its matches instead would read the trigram indexes' long
        lists, or, for one or two letters, test every member. SQLite's FTS5
        counts three letters or more quickly enough up to FTS_WALKS_FIRST
        members, unless its index in name order finds the page at once
        (`_walks_in_order`). Select all still counts them all."""
        return (
            bool(self.filter.q)
            and self.sort in counting.WALKABLE_SORTS
            and self._members > counting.FIRST_WALK
            and not self.count_all
            and (self._fts is None or self._members > counting.FTS_WALKS_FIRST or self._walks_in_order)
        )

    def _index_sample(self) -> tuple["Sample | None", bool]:
        """On SQLite, for a search its FTS5 index serves, its first entries
        in rowid order, counted to one past FEW_MATCHES: (None, True) when
        there are no more than that, in any organization (so no more
        matches in this table), else (their sample, False): as many matches
        among the memberships their ids span, all organizations' (ids are in
        no one's order, so any stretch of them is a sample of names). (None,
        False) without FTS5. Counting that far reads a short stretch of the
        index, where a first walk tests FIRST_WALK members, and a rare
        search's in vain; the index alone, as joining each entry to its
        member would double what a common name pays, unless the index was
        asked for the search's uncommon trigrams only (FtsQuery.tested)."""
        fts = self._fts
        if fts is None:
            return None, False
        rowid = literal_column("membership_search.rowid")
        entries = select(rowid.label("id")).select_from(table("membership_search")).where(fts)
        if self._fts_query.tested:
            entries = entries.join(Membership, Membership.id == rowid).where(_scan_match(self._folded))
        entries = entries.order_by(rowid).limit(counting.FEW_MATCHES + 1).subquery()
        first = select(func.min(Membership.id)).scalar_subquery()
        n, last, first, first_match = db.session.execute(
            select(func.count(), func.max(entries.c.id), first, func.min(entries.c.id))
        ).one()
        if n <= counting.FEW_MATCHES:
            return None, True
        return Sample(n, max(1, last - first + 1), max(1, last - first_match + 1)), False

    def _text_test(self, members):
        """The search, tested on the columns of a walk's subquery."""
        return _scan_match(self._folded, members.c.name_folded, members.c.email)

    def _besides_prefix_test(self, members):
        """The search's matches but the prefix ones (ranking takes those first)."""
        folded = self._folded
        return and_(self._text_test(members), ~_prefix_match(folded, members.c.name_folded, members.c.email))

    def _email_prefix_test(self, members):
        """E-mails that start with the search, of names that do not: the
        ranked search's third tier, tested member by member (substr, where
        SQLite would take a range of the e-mail index and sort it)."""
        folded = self._folded
        n = len(folded)
        return and_(func.substr(members.c.email, 1, n) == folded, func.substr(members.c.name_folded, 1, n) != folded)

    def _walk_members(self, window: int):
        """The table's first `window` members before the search, in its order
        (unranked), as a subquery of id, name and e-mail."""
        return (
            select(Membership.id, Membership.name_folded, Membership.email)
            .where(*self._walk_conditions())
            .order_by(*self._order(ranked=False))
            .limit(window)
            .subquery("walked")
        )

    def _walk_ids(self, limit: int, offset: int, window: int, test=None):
        """A search's page walked down the sort index: the ids of `limit`
        matches (of `test`, the search's own when None) after `offset`, in
        the table's order, among the first `window` members (a subquery
        with a LIMIT of its own: that keeps PostgreSQL on the index, where a
        guess that the search is rare had it test and sort every member). A
        list of ids, or on SQLite the SELECT of them, run as part of the
        page's; fewer than `limit` when the window does not hold them."""

        sqlite = db.engine.dialect.name == "sqlite"
        # PostgreSQL's ranges serve the walks past the first: a first walk's
        # members cost less than asking the ranges, and a rare search's
        # matches, spread through the order, are counted and sorted then.
        if self._walks_in_order and (sqlite or window > counting.FIRST_WALK):
            return self._ordered_walk_ids(limit, offset, test or self._text_test)
        # SQLite keeps to the sort index by itself, but sorts again what a
        # subquery gives it (3.40): there the window is a bound on the sort key.
        members = Membership.__table__ if sqlite else self._walk_members(window)
        key = members.c[SORTS[self.sort].key]
        order = [key.desc(), members.c.id.desc()] if self.descending else [key, members.c.id]
        query = select(members.c.id).where((test or self._text_test)(members))
        if sqlite:
            query = query.where(*self._walk_conditions())
            if window < self._members:  # else the window is every member
                end = self._window_end(window)  # NULL when fewer: then nothing, and the caller goes on
                query = query.where(key >= end if self.descending else key <= end)
        query = query.order_by(*order).limit(limit).offset(offset)
        # Part of the page's statement on SQLite; a window that does not hold
        # the page shows there as a short page.
        return query if sqlite else list(db.session.scalars(query))

    @cached_property
    def _unordered(self) -> int:
        """The organization's members left out of the search's name order,
        counted to one past UNORDERED_MAX: on SQLite those without a key, on
        PostgreSQL those pending (models.search_order)."""
        if db.engine.dialect.name == "postgresql":
            return pending_count(self.org_id)
        return unordered_count(self.org_id)

    @property
    def _walks_in_order(self) -> bool:
        """Whether a walk reads the search index in name order
        (models.search_order) rather than the name index: sorted by name,
        for a search that index serves (on SQLite, its FTS5 index; on
        PostgreSQL, any, A to Z), unless too many members are left out of
        its order."""
        dialect = db.engine.dialect.name
        return (
            self.sort == "name"
            and bool(self._folded)
            and (
                # Its ranges are walked from the first; when a first few did not
                # hold the page, the matches are spread: walked as before.
                (dialect == "postgresql" and not self.descending and not self._ranges_gave_up)
                or (dialect == "sqlite" and self._fts_query.ordered is not None)
            )
            and self._unordered <= UNORDERED_MAX
        )

    def _ordered_walk_ids(self, limit: int, offset: int, test):
        """The walk of `_walk_ids` off the search index in name order: its
        entries in the organization's range of keys, in key order, are the
        search's candidates in the table's order, tested by `test`, with the
        members left out of that order (off their own index) merged in. It
        reads candidates only, so no window: fewer than `limit` are all there
        are. The SELECT of their ids."""
        if db.engine.dialect.name == "postgresql":
            return self._ranges_walk_ids(limit, offset, test)
        members = Membership.__table__
        key = literal_column(f"{ORDERED_TABLE}.rowid")
        base = self.org_id * ORG_KEYS
        conditions = [*self._walk_conditions(), test(members)]
        take = offset + limit
        walked = (
            select(members.c.id, members.c.name_folded)
            .select_from(table(ORDERED_TABLE))
            .join(members, _SEARCH_KEY == key)
            .where(self._fts_query.ordered, key > base, key < base + ORG_KEYS, *conditions)
            .order_by(key.desc() if self.descending else key)
        )
        order = [members.c.name_folded, members.c.id]
        if not self._unordered:
            return walked.with_only_columns(members.c.id).limit(limit).offset(offset)
        left_out = (
            select(members.c.id, members.c.name_folded)
            .where(_SEARCH_KEY.is_(None), *conditions)
            .order_by(*[c.desc() for c in order] if self.descending else order)
        )
        parts = (walked.limit(take).subquery(), left_out.limit(take).subquery())
        both = union_all(*(select(part.c.id, part.c.name_folded) for part in parts)).subquery("both")
        both_order = [both.c.name_folded, both.c.id]
        return (
            select(both.c.id)
            .order_by(*[c.desc() for c in both_order] if self.descending else both_order)
            .limit(limit)
            .offset(offset)
        )

    def _ranges_walk_ids(self, limit: int, offset: int, test) -> list[int]:
        """PostgreSQL's walk in name order: the organization's ranges that
        may hold the search (membership_search_buckets), a batch at a time
        in order, each walked off the name index for its matches of `test`,
        until they hold the page; and the members pending, tested beside
        them. Fewer than `limit` are all there are. A list of ids."""
        members = Membership.__table__
        # Tested on each member walked, not looked up in the trigram indexes:
        # those would read every match of the organization.
        tested = SimpleNamespace(
            c=SimpleNamespace(name_folded=off_index(members.c.name_folded), email=off_index(members.c.email))
        )
        conditions = [*self._walk_conditions(), test(tested)]
        take = offset + limit
        key = tuple_(members.c.name_folded, members.c.id)
        order = [members.c.name_folded, members.c.id]
        found = {}
        if self._unordered:
            pending = select(literal_column("membership_id")).select_from(table(PENDING_TABLE))
            found.update(
                db.session.execute(
                    select(members.c.id, members.c.name_folded)
                    .where(members.c.id.in_(pending.where(literal_column("org_id") == self.org_id)), *conditions)
                    .order_by(*order)
                    .limit(take)
                ).all()
            )
        ranges = func.membership_search_buckets(
            self.org_id, cast(search_grams(self._folded), ARRAY(Text))
        ).table_valued("first_name", "first_id", "next_name", "next_id")
        # By code point, as the name index (a function's text has the database's collation).
        start = tuple_(ranges.c.first_name.collate("C"), ranges.c.first_id)
        # Each range's walk is costed as if it read the whole name index (its
        # bounds are the ranges' values): past jit_above_cost, PostgreSQL
        # then compiled the statement, longer than it runs. Off for the rest
        # of this transaction.
        db.session.execute(text("SELECT set_config('jit', 'off', true)"))
        after, batch, walked, read = ("", -1), counting.FIRST_RANGES, 0, 0
        while walked < take:
            batch_ranges = (
                select(
                    ranges.c.first_name.collate("C").label("first_name"),
                    ranges.c.first_id,
                    ranges.c.next_name.collate("C").label("next_name"),
                    ranges.c.next_id,
                )
                .where(start > tuple_(*after))
                .order_by(*start.clauses)
                .limit(batch)
                .subquery("ranges")
            )
            walk = (
                select(members.c.id, members.c.name_folded)
                .where(
                    *conditions,
                    key >= tuple_(batch_ranges.c.first_name, batch_ranges.c.first_id),
                    key < tuple_(batch_ranges.c.next_name, batch_ranges.c.next_id),
                )
                .order_by(*order)
                .limit(take - walked)
                .lateral("walk")
            )
            rows = db.session.execute(
                select(batch_ranges.c.first_name, batch_ranges.c.first_id, walk.c.id, walk.c.name_folded).select_from(
                    batch_ranges.outerjoin(walk, true())
                )
            ).all()
            starts = {(row.first_name, row.first_id) for row in rows}
            matched = [(row.id, row.name_folded) for row in rows if row.id is not None]
            walked += len(matched)
            found.update(matched)
            if len(starts) < batch:
                break  # no range is left
            read += batch
            if self._ranges_budget is not None and read >= self._ranges_budget:
                self._ranges_gave_up = walked < take
                break
            after, batch = max(starts), batch * 4
        ordered = sorted(found, key=lambda member: (found[member], member))
        return ordered[offset:take]

    def _walk_conditions(self) -> list:
        """The table's conditions but the search, for a walk down the sort index."""
        return [*view_conditions(self.org_id, self.view, self.extent), *self.filter.conditions(text=False, scan=True)]

    def _window_end(self, window: int):
        """The sort key of the window's last member in the table's order, as
        a scalar subquery: the members up to it (ties included) are the
        window."""
        return (
            select(SORTS[self.sort])
            .where(*self._walk_conditions())
            .order_by(*self._order(ranked=False))
            .offset(window - 1)
            .limit(1)
            .scalar_subquery()
        )

    def pages(self, total: int) -> int:
        return max(1, -(-total // PER_PAGE))

    @property
    def ranked(self) -> bool:
        """Whether a search puts exact, then prefix matches of name or e-mail
        first: in the table's own order (by name, A to Z), where a hurried
        admin ticks the first row."""
        return bool(self.filter.q) and self.sort == "name" and not self.descending

    def _order(self, ranked: bool = True) -> list:
        column = SORTS[self.sort]
        if self.descending:
            return [column.desc(), Membership.id.desc()]
        if ranked and self.ranked:
            return [self._rank, column, Membership.id]
        return [column, Membership.id]

    def page_ids(self) -> list[int]:
        """The ids on this page, as the page shows them."""
        if self.filter.q:
            return [row.id for row in self.shown()[0]]
        query = (
            select(Membership.id)
            .where(*self._conditions())
            .order_by(*self._order())
            .limit(PER_PAGE)
            .offset((self.page - 1) * PER_PAGE)
        )
        return list(db.session.scalars(query))

    def shown(self) -> tuple[list, int, bool]:
        """(the page's rows as MemberRow, the number of members in the
        table, whether that is exact). Rows and count come in one statement
        (a round trip is a good part of a page's time on PostgreSQL), but a
        search with many matches needs a second, found by walking the sort
        index; outside "add", when each got access comes in one more."""
        known, exact, matches, bound = self.known_total, True, 0, self.count_bound
        rows, sample, few, walked_short = None, None, False, False
        if self._walks_first:
            sample, few = self._index_sample()
            if sample is None and not few:
                rows = self._page_rows(0, walk=True, window=counting.FIRST_WALK)
                if rows is not None and len(rows) == PER_PAGE:
                    # Counted as far as the page: "more than" its last row.
                    return self._with_since(rows), self.first_row - 1 + PER_PAGE, False
                # The walk's members are a sample of the table.
                sample, rows = (
                    Sample(len(rows) if rows is not None else self._found_in_window, counting.FIRST_WALK),
                    None,
                )
                if len(self._folded) < 3:
                    # One or two letters that did not fill the page there are
                    # rare: from here on an index finds them (SQLite: FTS5, as
                    # it finds three letters or more; PostgreSQL: _text_match).
                    # Foretold within the bound, they are counted and paged at
                    # once below, few or not: no need to count them to FEW_MATCHES.
                    self._rare_letters = True
                    self._fts_query = short_match(self._folded) or FtsQuery(None)
                    if not self._foretold_within(sample, self._search_bound()):
                        few = self._index_sample()[1]
        walked_in_order = False
        if (
            sample is not None
            and not few
            and self._walks_in_order
            and self.page * PER_PAGE <= counting.WALK_ROWS
            and not self._counted_first(sample)
        ):
            # The search index in name order holds the page among the first
            # of its matches, wherever they stand: "more than" its last row.
            # Fewer are all there are: counted and sorted below, at once. On
            # PostgreSQL only a first few of its ranges are read: a rare
            # search whose matches are spread through the order, its
            # substrings common (an e-mail's digits), is found in most of
            # them, and counted and sorted costs less.
            if db.engine.dialect.name == "postgresql":
                self._ranges_budget = counting.RANGES_FIRST
            rows = self._page_rows(0, walk=True, window=self._members)
            self._ranges_budget = None
            if rows is not None and len(rows) == PER_PAGE:
                return self._with_since(rows), self.first_row - 1 + PER_PAGE, False
            rows, walked_in_order = None, not self._ranges_gave_up
        if sample is not None and not few:
            # The sample foretells about how many matches there are in all:
            # more than are counted, and whether walking on finds the page soon.
            many = not self._foretold_within(sample, self._search_bound())
            window = counting.foretold_walk(sample.matches, sample.members, self.page, PER_PAGE) if many else None
            if walked_in_order:
                window, walked_short = None, True
            if window is not None:
                rows = self._page_rows(0, walk=True, window=window)
                if rows is not None and len(rows) == PER_PAGE:
                    return self._with_since(rows), self.first_row - 1 + PER_PAGE, False
                rows, walked_short = None, True
        if few:
            # Counted and paged by one statement, from the matches.
            rows = self._page_rows(None, walk=False, found_bound=counting.FEW_MATCHES)
            known = matches = rows[0].total if rows else (self._count(None) if self.page > 1 else 0)
        elif self.filter.q:
            bound = counted_to = self._search_bound()
            wide = counting.sorted_bound(bound)
            # Counted and sorted with the page: a sample foretold them few, or
            # not too many for that once they stand together past the walk
            # foretold for them (one first name's members, say).
            at_once = sample is not None and (
                self._foretold_within(sample, bound) or walked_short and self._foretold_within(sample, wide)
            )
            if self._fts is not None and not at_once:
                # SQLite's FTS5 counts the matches alone quickly, and then the
                # page is found as few or many matches need.
                matches = self._count(bound)
            else:
                # Few matches are counted and paged by one statement (the
                # search index is read once); many are counted there to one
                # past the bound, or the wider bound of counting.sorted_bound
                # when a sample foretold them, and their page found by a
                # plan of its own.
                counted_to = wide if at_once else bound
                rows = self._page_rows(None, walk=False, found_bound=counted_to)
                if rows:
                    matches = rows[0].total
                else:
                    # No rows on page 1: no matches; past it, counted to know where the end is.
                    counted_to, matches = bound, self._count(bound) if self.page > 1 else 0
            known, exact = (matches, True) if counted_to is None or matches <= counted_to else (bound, False)
            if not exact:
                rows = None
        if rows is None:
            rows = self._counted_page(known, exact, matches)
        if not rows and self.page > 1:
            # Past the end (the rows just granted left the page, or a stale
            # link): the last page there is, counted to the end, and the URL
            # follows (args()).
            self.page = self.pages(known if known is not None and exact else self._count(None))
            rows = self._counted_page(known, exact, matches)
        if not rows:
            return [], 0, True
        n = rows[0].total
        rows = self._with_since(rows)
        if known is not None:
            return rows, known, exact
        if bound is None or n <= bound or self.counted_by_department:
            return rows, n, True
        return rows, bound, False

    def _counted_page(self, known: int | None, exact: bool, matches: int) -> list:
        """The page once the table is counted (`known`, exact or a bound).
        A search with many matches walks the sort index, within WALK_WINDOW
        members first. When that does not hold the page, its matches stand
        together further on (one first name's members, say): counted, they
        are sorted, as few matches are; past the bound they may be most of
        the table, and the walk goes on to the end, which costs less than
        sorting them could."""
        if self._walks(matches):  # never with the members unknown (0)
            whole = counting.WALK_WINDOW >= self._members  # the walk reads every member
            rows = self._page_rows(known, True, window=counting.WALK_WINDOW)
            wanted = PER_PAGE if not exact else min(PER_PAGE, max(0, known - self.first_row + 1))
            if rows is not None and (len(rows) >= wanted or whole):
                return rows
            if not exact and not whole:
                rows = self._page_rows(known, True, window=self._members)
                if rows is not None:
                    return rows
        return self._page_rows(known, False)

    def _counted_first(self, sample: Sample) -> bool:
        """Whether a short search (up to PHRASE_TRIGRAMS trigrams) is counted
        and sorted exactly, in about the time the walk in name order takes,
        rather than walked: when its first FTS5 entries foretell no more than
        count_bound, judged from the organization's first member and from
        the first match alike (entries in id order are a fair sample unless
        the matches stand together in id order too, as e-mails numbered as
        members were added do). A longer search's matches are read off many
        trigrams' lists or tested one by one: walked, it stops at the page.
        A first walk's members (one or two letters, and PostgreSQL's) are
        no fair sample: matches stand together in name order."""
        if not 3 <= len(self._folded) <= counting.PHRASE_TRIGRAMS + 2 or db.engine.dialect.name != "sqlite":
            return False
        spans = (sample.members, sample.own_span or sample.members)
        return all(self._foretold_within(Sample(sample.matches, span), self.count_bound) for span in spans)

    def _foretold_within(self, sample: "Sample | None", bound: int | None) -> bool:
        """Whether the sample foretells no more than `bound` matches in all:
        then they are counted and paged at once, rather than counted and
        read again."""
        return sample is not None and bound is not None and sample.matches * self._members <= bound * sample.members

    def _with_since(self, rows) -> list[MemberRow]:
        # "Access since", shown by the other views: nobody in "add" has it.
        since = granted_since(self.org_id, [r.id for r in rows]) if self.view != "add" else {}
        return [MemberRow(r.id, r.name, r.email, r.department, r.role, since.get(r.id)) for r in rows]

    def _paged(self, known: int | None, walk: bool, found_bound: int | None = None, window: int | None = None):
        """The page's ids with the table's total beside each (`known`, or
        counted here), as a subquery.

        A search with few matches, or a deep page of one, is paged from its
        matches, found first (materialized: left to itself PostgreSQL walks
        the sort index testing LIKE on every member instead of asking the
        trigram index); with `known` None, it counts them too, to one past
        `found_bound` (then the page is right only if they are no more).
        A search with many matches walks the sort index (`_walk_ids`), within
        `window` members (None when the page is not full there). Without a
        search the page comes off the sort index by LIMIT, and the count is a
        subquery that stops past count_bound."""
        offset = (self.page - 1) * PER_PAGE
        if self.filter.q and walk and self.ranked:
            return self._ranked_walk(known, offset, window)
        if self.filter.q and walk:
            ids = self._walk_ids(PER_PAGE, offset, window)
            if _fell_short(ids, PER_PAGE):
                self._found_in_window = len(ids)
                return None
            return select(Membership.id, literal(known).label("total")).where(Membership.id.in_(ids)).subquery("paged")
        if self.filter.q and not walk:
            rank = self._rank if self.ranked else literal(0)
            matches = self._matches(Membership.id, SORTS[self.sort].label("key"), rank.label("rank"))
            if known is None and found_bound is not None:
                matches = matches.limit(found_bound + 1)
            found = materialized(matches.cte("found"))
            order = (
                [found.c.key.desc(), found.c.id.desc()] if self.descending else [found.c.rank, found.c.key, found.c.id]
            )
            total = literal(known) if known is not None else select(func.count()).select_from(found).scalar_subquery()
            return (
                select(found.c.id, total.label("total"))
                .order_by(*order)
                .limit(PER_PAGE)
                .offset(offset)
                .subquery("paged")
            )
        if known is not None:
            total = literal(known)
        elif self.counted_by_department:
            total = (
                select(func.coalesce(func.sum(DepartmentCount.members), 0))
                .where(DepartmentCount.org_id == self.org_id, DepartmentCount.department == self.filter.department)
                .scalar_subquery()
            )
        else:
            # In the page's order: the count then walks the page's own index.
            # Unordered, PostgreSQL may pick a table scan (docs/performance.md).
            matching = select(Membership.id).where(*self._conditions()).order_by(*self._order())
            if self.count_bound is not None:
                matching = matching.limit(self.count_bound + 1)
            total = select(func.count()).select_from(matching.subquery()).scalar_subquery()
        return (
            select(Membership.id, total.label("total"))
            .where(*self._conditions())
            .order_by(*self._order())
            .limit(PER_PAGE)
            .offset(offset)
            .subquery("paged")
        )

    def _ranked_walk(self, known: int, offset: int, window: int):
        """A search with many matches, ranked. Its exact and prefix matches
        are counted only as far as this page needs; when the page starts
        among them, they come in three parts, each off its own index in name
        order and only as deep as the page: the exact ones, those whose name
        starts with the search, and those whose e-mail does (and name does
        not), on SQLite walked off the name index when they are common. The
        rest of the page is walked off the name index, as without ranking, leaving
        the prefix matches out."""
        folded = self._folded
        base = [*view_conditions(self.org_id, self.view, self.extent), *self.filter.conditions(text=False)]
        by_name = _starts_with(Membership.name_folded, folded)
        by_email = and_(_starts_with(Membership.email, folded), ~by_name)
        cap = offset + PER_PAGE + 1
        # On SQLite the e-mail tier is walked off the name index when it is
        # common enough for the walk to meet its part soon (every e-mail at a
        # domain named like the search, say): its range of the e-mail index,
        # sorted by name, would be most of the table. PostgreSQL's statistics
        # tell it the range's size, and it walks the name index by itself.
        sqlite = db.engine.dialect.name == "sqlite"
        walkable = counting.tier_walkable(cap, self._members)
        email_limit = max(cap, walkable + 1) if sqlite else cap
        if cap not in self._best_counts:  # a second walk for the page asks again
            # Counted as two ranges, each off its own index: asked for the two
            # at once (OR) with a LIMIT, PostgreSQL hoped to meet them early in
            # a scan of every member, and read them all when there were none.
            counts = [
                select(func.count()).select_from(select(Membership.id).where(*base, part).limit(limit).subquery())
                for part, limit in ((by_name, cap), (by_email, email_limit))
            ]
            self._best_counts[cap] = tuple(db.session.execute(select(*(c.scalar_subquery() for c in counts))).one())
        n_name, n_email = self._best_counts[cap]
        n_best = min(cap, n_name + n_email)
        parts = []
        room = PER_PAGE - min(PER_PAGE, max(0, n_best - offset))
        if room:
            rest = self._walk_ids(room, max(0, offset - n_best), window, self._besides_prefix_test)
            if _fell_short(rest, room):
                self._found_in_window = PER_PAGE - room + len(rest)
                return None  # the window does not hold the page
            parts.append(select(Membership.id).where(Membership.id.in_(rest)).subquery("rest_page"))
        if n_best > offset:
            tiers = [or_(Membership.name_folded == folded, Membership.email == folded), by_name, by_email]
            rank = self._rank.label("rank")
            best = select(Membership.id, rank, Membership.name_folded.label("key"))
            tops = [
                best.where(*base, tier).order_by(Membership.name_folded, Membership.id).limit(offset + PER_PAGE)
                for tier in tiers
            ]
            if sqlite and n_email > walkable:
                # Run on its own (on SQLite _walk_ids gives the SELECT): a
                # short walk must be seen before the page is built on it.
                tier = self._walk_ids(offset + PER_PAGE, 0, counting.WALK_WINDOW, self._email_prefix_test)
                walked = list(db.session.scalars(tier))
                if len(walked) == offset + PER_PAGE:  # else they stand further on: sorted
                    tops[-1] = best.where(Membership.id.in_(walked))
            tops = [top.subquery() for top in tops]
            ranked = materialized(union(*(select(top) for top in tops)).cte("best"))
            parts.append(
                select(ranked.c.id)
                .order_by(ranked.c.rank, ranked.c.key, ranked.c.id)
                .limit(PER_PAGE)
                .offset(offset)
                .subquery("best_page")
            )
        ids = union_all(*(select(part.c.id) for part in parts)).subquery("ids") if len(parts) > 1 else parts[0]
        return select(ids.c.id, literal(known).label("total")).subquery("paged")

    def _page_rows(
        self, known: int | None, walk: bool, found_bound: int | None = None, window: int | None = None
    ) -> list:
        """The page is chosen on ids first (an OFFSET walks the index only),
        then only those 50 are joined to users. None: a walk within
        `window` did not fill the page."""
        paged = self._paged(known, walk, found_bound, window)
        if paged is None:
            return None
        query = (
            select(
                Membership.id,
                User.name,
                Membership.email,
                Membership.department,
                Membership.role,
                paged.c.total,
            )
            .join(paged, paged.c.id == Membership.id)
            .join(User, User.id == Membership.user_id)
            .order_by(*self._order())
        )
        return db.session.execute(query).all()

    def max_id(self) -> int:
        # The last entry of ix_membership_org_block (org, block, id): MAX(id)
        # alone is served by no index that leads with the organization and
        # read every member of it.
        last = (
            select(Membership.id)
            .where(Membership.org_id == self.org_id)
            .order_by(block_of(Membership.id).desc(), Membership.id.desc())
            .limit(1)
        )
        return db.session.scalar(last) or 0


@dataclass(frozen=True)
class ChosenMembers:
    """The members an admin chose in one view of the table (views.selection
    keeps the choice between requests): some picked one by one, and maybe
    "all matching a filter", bound to the members that existed when it was
    chosen (an id ceiling), less those unticked since."""

    org_id: int
    view: str
    extent: AccessExtent
    picked: list[int]
    matching: tuple[MemberFilter, int] | None
    excluded: list[int]

    def ids(self, in_view: bool = True):
        """A SELECT of the chosen membership ids, as grant_access and
        revoke_access take it; with in_view, only those still in this view
        (lacking access for "add", having it for "remove")."""
        chosen = [Membership.id.in_(self.picked)] if self.picked else []
        if self.matching:
            member_filter, ceiling = self.matching
            conditions = member_filter.conditions() + [unsteered(Membership.id) <= ceiling]
            if self.excluded:
                conditions.append(Membership.id.not_in(self.excluded))
            chosen.append(and_(*conditions))
        if not chosen:
            return select(Membership.id).where(literal(False))
        scope = view_conditions(self.org_id, self.view, self.extent) if in_view else [Membership.org_id == self.org_id]
        return select(Membership.id).where(*scope, or_(*chosen))

    def to_grant(self):
        """What grant_access takes: EveryMember when "all matching" has no
        filter (read from the organization's member blocks), else ids()."""
        if self.matching and self.matching[0].is_empty():
            return EveryMember(self.matching[1], tuple(self.picked), tuple(self.excluded))
        return self.ids(in_view=False)

    def count(self) -> int:
        return db.session.scalar(select(func.count()).select_from(self.ids().subquery()))

    def gone_count(self) -> int:
        """Members picked one by one who are no longer in the organization."""
        if not self.picked:
            return 0
        present = db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.id.in_(self.picked), Membership.org_id == self.org_id)
        )
        return len(self.picked) - present

    def among(self, ids: list[int]) -> set[int]:
        """Which of these (the rows on screen) are chosen."""
        if not ids:
            return set()
        return set(db.session.scalars(self.ids().where(Membership.id.in_(ids))))


def departments(org_id: int) -> list[str]:
    """The organization's departments that have members, off department_count."""
    return list(
        db.session.scalars(
            select(DepartmentCount.department)
            .where(DepartmentCount.org_id == org_id, DepartmentCount.members > 0, DepartmentCount.department != "")
            .order_by(DepartmentCount.department)
        )
    )
