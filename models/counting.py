"""How far the member table counts, and how a search finds its page.

Promises:
- a count stops one past its bound and the table says "more than N"
  (`count_bound`); select all counts exactly (no bound);
- a text search counts less far than a filter, since it checks its matches
  one by one where a filter counts a range of an index, but far enough to
  choose how it finds its page (`search_bound`);
- a search with many matches finds its page as a filter does, walking the
  sort index and testing each member, unless the walk would read more than
  WALK_ROWS members (a deep page); then from its matches, sorted (`walks`);
- in an organization of more than FIRST_WALK members, a search first takes
  a sample: it walks that many members in the table's order, or on SQLite,
  for three letters or more, it counts its FTS5 entries to FEW_MATCHES
  (one with no more than that is paged from its matches, without a walk).
  A common name fills its page in that first walk, and the table then says
  "more than" the page's last row (counting the matches would read the
  search index's long lists, or every member for one or two letters);
- a search whose sample foretells more matches than are counted (between
  about 500 and 5,000 at a million members are not common, but counting
  them read the same long lists), and its page within WALK_ROWS members,
  is walked that far and not counted: "more than" again (`foretold_walk`);
  when that walk falls short, its matches stand together further on (one
  first name's members), and they are counted and paged by one statement
  if the sample foretells no more than `sorted_bound`;
- the others are counted as above: one or two letters that the first walk
  finds rare are looked up in an index from then on
  (models.members.short_match, _text_match), and a search whose sample
  foretells no more than the bound is counted and paged by one statement,
  to one past `sorted_bound` (MemberTable._foretold_within);
- once the matches are counted, a walk reads WALK_WINDOW members first:
  past them the page comes from the matches, sorted, when they are no more
  than the bound, else the walk goes on (MemberTable._counted_page);
- on SQLite, a ranked search's e-mails that start with it (of names that
  do not) are walked off the name index when there are more than
  `tier_walkable` (every e-mail at a domain named like the search), else
  sorted;
- on SQLite, a search of more than PHRASE_TRIGRAMS trigrams, some common
  and some not, asks FTS5 for those no more than COMMON_TRIGRAM of the
  members hold and the least common of the others, as the first
  TRIGRAM_SAMPLE entries of each one's list tell, and is tested on what
  they find.

- on SQLite, sorted by name, a walk reads the search index in name order
  (models.search_order) instead of the name index, with no window: it
  reads the search's candidates only. Then a search past FIRST_WALK
  members is walked so at once, and its full page says "more than" its
  last row, unless its first FTS5 entries find it few, or, for a search of
  no more than PHRASE_TRIGRAMS trigrams, foretell no more than the count
  bound, counted from the organization's first member and from the first
  match alike (matches may stand together in id order too). A first walk's
  members are no fair sample there.
- on PostgreSQL, sorted by name A to Z, a walk past the first reads the
  ranges of the name order that may hold the search (models.search_order),
  again with no window; after a first walk that did not fill its page, at
  most RANGES_FIRST of them, and a search they do not find its page in is
  counted as above (its matches spread through the order, as an e-mail's
  digits are).

These choose plans only: every choice gives the same rows.
"""

COUNT_BOUND = 10_000
SEARCH_COUNT_BOUND = 1_000
WALK_ROWS = 20_000
WALKABLE_SORTS = ("name", "email")  # the sorts with an index in their order
# A walk once the matches are counted reads this many members first: room
# for the WALK_ROWS it expects to need. Past them the matches stand together
# further on: sorted when counted exactly, else walked on to the end
# (MemberTable._counted_page).
WALK_WINDOW = 2 * WALK_ROWS
FIRST_WALK = 10_000
# SQLite's FTS5 finds three letters or more faster than that walk, up to
# this many members; past it, a common name's lists cost more.
FTS_WALKS_FIRST = 200_000
# Past FTS_WALKS_FIRST, a search's FTS5 entries are counted this far before
# the first walk: a rare search (an e-mail part, no match) is paged from them.
FEW_MATCHES = 200
# A search of more than PHRASE_TRIGRAMS trigrams, some held by more than
# COMMON_TRIGRAM of the members and some not, as the first TRIGRAM_SAMPLE
# entries of each one's list tell, asks SQLite's FTS5 for the others and the
# least common of those (models.members._fts_match).
PHRASE_TRIGRAMS = 3
# PostgreSQL's walk in name order asks this many of the ranges that may hold
# a search at first, then four times as many each time
# (models.members.MemberTable._ranges_walk_ids).
FIRST_RANGES = 8
# After a first walk that did not fill the page, PostgreSQL's walk in name
# order reads this many ranges at most before the search is counted instead.
RANGES_FIRST = FIRST_RANGES
COMMON_TRIGRAM = 0.02
TRIGRAM_SAMPLE = 64


def count_bound(searching: bool, count_all: bool) -> int | None:
    """Where counting stops; None: it does not."""
    if count_all:
        return None
    return SEARCH_COUNT_BOUND if searching else COUNT_BOUND


def search_bound(bound: int | None, page: int, per_page: int, members: int) -> int | None:
    """Where a search stops counting: its bound, or further when the walk
    needs to know more. A walk for this page reads about page x per_page x
    members / matches members; counting to where that is WALK_ROWS tells
    whether it stays under (a million members, page 1: to 2,500)."""
    if bound is None:
        return None
    return max(bound, -(-page * per_page * members // WALK_ROWS))


def sorted_bound(bound: int | None) -> int | None:
    """How far a search whose sample foretold no more than `bound` matches
    counts them as it pages them from its matches, sorted: further than the
    bound, since a sample that met fewer than their share (they stand
    together in name order, one first name's members, say) would otherwise
    have them counted to the bound, then walked past the sample and sorted
    after all. Up to four times as many are sorted at once in less time.
    Without a sample (a small organization) a common search is counted only
    to the bound: most of its matches would be read for nothing."""
    return None if bound is None else 4 * bound


def foretold_walk(matches: int, members: int, page: int, per_page: int) -> int | None:
    """How many members to walk for this page when a sample's `matches`
    among its `members` foretell the page within WALK_ROWS: twice the
    foretold, room for a sample that met more than its share. None when
    they do not: then the matches are counted (between about 500 and 5,000
    at a million members, counting them read the search index's long lists
    of their common trigrams, where the walk reads a few thousand members)."""
    if not matches:
        return None
    foretold = -(-page * per_page * members // matches)
    return 2 * foretold if foretold <= WALK_ROWS else None


def tier_walkable(wanted: int, members: int) -> int:
    """How many of the ranked search's e-mail prefix matches (of names that
    do not start with the search) there must be for a walk of the name index
    to meet `wanted` of them within WALK_ROWS members; with more, SQLite
    walks the tier, with no more sorts it (a range of the e-mail index)."""
    return -(-wanted * members // WALK_ROWS)


def walks(sort: str, page: int, per_page: int, members: int, matches: int) -> bool:
    """Whether a search finds its page by walking the sort index: with many
    matches the walk meets one often, unless the page is deep."""
    if sort not in WALKABLE_SORTS or not members or matches <= SEARCH_COUNT_BOUND:
        return False
    return page * per_page * members / matches <= WALK_ROWS
