"""Member access over HTTP with HTMX headers: the table, selection, grant, revoke."""

import json
import re

import pytest

import models.counting
import models.members
from conftest import Session, scheduled_job_ids
from models import AuditEvent, Membership, Role, SendState, db
from models.access import AccessBlock, access_count, event_member_ids
from models.bitblocks import BLOCK_BITS

pytestmark = pytest.mark.usefixtures("active_integration")


def url(org, path="/"):
    return f"/orgs/{org.id}/settings/digital-post/access{path}"


def table(s, org, view="add", **args):
    """GET the table fragment as the filter form does."""
    path = {"add": "/add", "remove": "/remove", "access": "/"}[view]
    response = s.client.get(
        url(org, path), query_string=args, headers={"HX-Request": "true", "HX-Target": "member-table"}
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def pager_line(html):
    """What the pager says of the rows shown ("Viser 1–50 af 100"), empty when none are."""
    return re.search(r'<nav class="pager"[^>]*>\s*<p>([^<]*)</p>', html).group(1).strip()


def names_in(html):
    return [n for n in re.findall(r'aria-label="Vælg ([^"]+)"', html) if n != "alle på siden"]


def record_pages(monkeypatch) -> list:
    """Every page statement the member table builds, as (search, page,
    walk, window): how it found its rows."""
    pages = []
    page_rows = models.members.MemberTable._page_rows

    def recording(self, known, walk, found_bound=None, window=None):
        pages.append((self.filter.q, self.page, walk, window))
        return page_rows(self, known, walk, found_bound, window)

    monkeypatch.setattr(models.members.MemberTable, "_page_rows", recording)
    return pages


def walk_the_name_index(monkeypatch) -> None:
    """Walks read the name index within their windows, as on PostgreSQL, or
    on SQLite when too many members are left out of the search index's name
    order (models.search_order), which walks in that order without one."""
    monkeypatch.setattr(models.members, "UNORDERED_MAX", -1)


def select(s, org, view="add", **form):
    return s.post(url(org, f"/{view}/select"), form, htmx=True)


def access_ids(org):
    """The members with access, read from the bit blocks themselves."""
    db.session.expire_all()
    blocks = db.session.execute(db.select(AccessBlock.block, AccessBlock.bits).where(AccessBlock.org_id == org.id))
    return {block * BLOCK_BITS + i for block, bits in blocks for i in range(BLOCK_BITS) if bits >> i & 1}


def flash_text(response):
    return json.loads(response.headers["HX-Trigger"])["showMessage"]["text"]


def test_nobody_has_access_so_the_list_opens_the_picker(as_admin, org, make_members):
    make_members(org, ["Bo Berg"])
    response = as_admin.get(url(org), htmx=True)
    assert response.status_code == 302 and response.headers["Location"].endswith("/access/add")
    panel = as_admin.get(url(org, "/add"), htmx=True).get_data(as_text=True)
    assert "0 medlemmer har adgang" in panel and "Tilføj" in panel and "Bo Berg" in panel


def test_search_ignores_case_and_handles_danish_letters(as_admin, org, make_members):
    make_members(org, ["Søren Ærø", "Åse Østergård", "Bo Berg", "Anne Sørensen"])
    assert names_in(table(as_admin, org, q="ærø")) == ["Søren Ærø"]
    assert names_in(table(as_admin, org, q="SØREN")) == ["Søren Ærø", "Anne Sørensen"]  # a prefix first
    assert names_in(table(as_admin, org, q="åse ØSTER")) == ["Åse Østergård"]
    assert names_in(table(as_admin, org, q="%")) == []  # a wildcard is just a character
    email = db.session.scalar(db.select(Membership.email).where(Membership.name_folded == "bo berg"))
    assert names_in(table(as_admin, org, q=email.upper()[:8])) == ["Bo Berg"]


def test_filters_by_department_and_role(as_admin, org, make_members):
    make_members(org, ["Hans Hjem", "Gitte Hjem"], department="Hjemmeplejen")
    make_members(org, ["Karl Kultur"], department="Kultur", role=Role.ADMIN, prefix="k")
    assert names_in(table(as_admin, org, department="Hjemmeplejen")) == ["Gitte Hjem", "Hans Hjem"]
    assert names_in(table(as_admin, org, role="admin")) == ["Anne Admin", "Karl Kultur"]
    assert names_in(table(as_admin, org, department="Kultur", role="member")) == []
    page = as_admin.get(url(org, "/add")).get_data(as_text=True)
    assert "<option>Hjemmeplejen</option>" in page and "<option>Kultur</option>" in page


def test_sorting_and_pagination(as_admin, org, make_members):
    make_members(org, [f"Medlem {i:03d}" for i in range(118)])  # + the admin = 119
    first = table(as_admin, org)
    assert names_in(first)[:2] == ["Anne Admin", "Medlem 000"] and len(names_in(first)) == 50
    assert "Viser 1–50 af 119" in first and "Side 1 af 3" in first
    last = table(as_admin, org, page=3)
    assert len(names_in(last)) == 19 and "Viser 101–119 af 119" in last and 'rel="next"' not in last
    assert names_in(table(as_admin, org, sort="name", dir="desc"))[0] == "Medlem 117"
    beyond = table(as_admin, org, page=99)  # a stale link shows the last page there is
    assert names_in(beyond) == names_in(last) and "Side 3 af 3" in beyond
    assert names_in(table(as_admin, org, page="nonsense", sort="evil;drop"))[0] == "Anne Admin"


def test_filter_state_is_in_every_link_and_a_reload_shows_the_same_rows(as_admin, org, make_members):
    make_members(org, [f"Anna {i:02d}" for i in range(60)] + ["Bo Berg"])
    fragment = table(as_admin, org, q="anna", sort="name", dir="desc", page=2)
    assert re.search(r"href=\"/orgs/\d+/settings/digital-post/access/add\?q=anna&amp;sort=email\"", fragment)
    full = as_admin.get(url(org, "/add"), query_string={"q": "anna", "dir": "desc", "page": 2}).get_data(as_text=True)
    assert names_in(full) == names_in(fragment) == [f"Anna {i:02d}" for i in range(9, -1, -1)]
    assert 'value="anna"' in full


def test_filters_work_as_a_plain_get_form_without_javascript(as_admin, org, make_members):
    make_members(org, ["Bo Berg", "Anna Ager"])
    page = as_admin.get(url(org, "/add") + "?q=bo").get_data(as_text=True)
    assert '<form id="member-filters" class="filters" role="search" method="get"' in page
    assert names_in(page) == ["Bo Berg"]


def test_selection_survives_paging_and_filtering(as_admin, org, make_members):
    members = make_members(org, [f"Medlem {i:03d}" for i in range(70)])
    bar = select(as_admin, org, scope="row", member_id=members[0].id, checked="true").get_data(as_text=True)
    assert "1 valgt" in bar
    assert "1 valgt" in table(as_admin, org, page=2)
    assert "1 valgt" in table(as_admin, org, q="zzz")
    back = table(as_admin, org)
    assert re.search(rf'name="member_id" value="{members[0].id}"[^>]*checked', back)
    assert "0 valgt" in select(as_admin, org, scope="row", member_id=members[0].id).get_data(as_text=True)


def test_add_grants_the_selection_with_count_and_message_in_one_response(as_admin, org, admin, make_members):
    members = make_members(org, ["Bo Berg", "Anna Ager", "Carl Cort"])
    for m in members[:2]:
        select(as_admin, org, scope="row", member_id=m.id, checked="true")
    response = post_add(as_admin, org)
    assert response.status_code == 200
    assert flash_text(response) == "2 medlemmer har nu adgang."
    body = response.get_data(as_text=True)
    assert "2 medlemmer har adgang" in body and 'hx-swap-oob="true"' in body  # the count, out of band
    assert names_in(body) == ["Anne Admin", "Carl Cort"]  # the picker shows who is left
    assert "0 valgt" in body
    assert access_ids(org) == {members[0].id, members[1].id}
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "access.granted")).one()
    assert event.actor_id == admin.id and event.details["count"] == 2
    whom = event_member_ids(event.id)
    assert whom == {members[0].id, members[1].id}


def post_add(s, org):
    return s.client.post(
        url(org, "/add"), headers={"HX-Request": "true", "HX-Target": "member-table", "X-CSRFToken": s.token}
    )


def test_select_all_matching_is_bound_to_the_filter_and_the_members_of_that_moment(as_admin, org, make_members):
    ibs = make_members(org, [f"Ib {i:02d}" for i in range(55)])
    bos = make_members(org, [f"Bo {i:02d}" for i in range(5)], prefix="b")
    select(as_admin, org, scope="page", checked="true", q="ib")
    fragment = table(as_admin, org, q="ib")
    assert "Vælg alle 55 medlemmer, der matcher filteret" in fragment
    after = select(as_admin, org, scope="all", q="ib").get_data(as_text=True)
    assert "55 valgt" in after and "Alle medlemmer, der matcher filteret, er valgt" in after
    # A new member joins before the admin clicks Add: not part of what was shown.
    late = make_members(org, ["Ib Sen"], prefix="late")
    response = post_add(as_admin, org)
    assert flash_text(response) == "55 medlemmer har nu adgang."
    assert access_ids(org) == {m.id for m in ibs}
    assert not access_ids(org) & ({m.id for m in bos} | {late[0].id})


def test_a_filter_change_clears_select_all_so_add_grants_what_the_bar_says(as_admin, org, make_members):
    """The issue's sequence: all 217 of Borgerservice + Medlem selected, then
    the search changes to one member outside them. The rule (Django admin's):
    the filter change clears the selection, the bar says so, and Add grants
    exactly the number the bar shows."""
    borger = make_members(org, [f"Borger {i:03d}" for i in range(217)], department="Borgerservice")
    make_members(org, ["Mem Ber"], prefix="member", department="Nord")
    make_members(org, [f"Nord {i:02d}" for i in range(3)], prefix="n", department="Nord")
    # Something ticked before, under another filter: replaced by "all matching".
    select(as_admin, org, scope="page", checked="true", department="Nord")
    select(as_admin, org, scope="page", checked="true", department="Borgerservice", role="member")
    bar = select(as_admin, org, scope="all", department="Borgerservice", role="member").get_data(as_text=True)
    assert "217 valgt" in bar and "Alle medlemmer, der matcher filteret, er valgt" in bar
    fragment = table(as_admin, org, q="mem ber", department="Borgerservice", role="member")
    assert "0 valgt" in fragment and "filteret blev ændret" in fragment.lower()
    assert "er valgt" not in fragment
    response = post_add(as_admin, org)
    assert response.status_code == 422 and flash_text(response) == "Vælg mindst ét medlem."
    assert access_ids(org) == set()
    # Selected again under the new filter: the number shown is the number granted.
    fragment = table(as_admin, org, department="Borgerservice", role="member")
    bar = select(as_admin, org, scope="all", department="Borgerservice", role="member").get_data(as_text=True)
    shown = int(re.search(r"(\d+) valgt", bar).group(1))
    response = post_add(as_admin, org)
    assert flash_text(response) == f"{shown} medlemmer har nu adgang." and shown == 217
    assert access_ids(org) == {m.id for m in borger}


def test_with_every_match_selected_the_table_counts_them_all_and_the_bar_says_so(
    as_admin, org, make_members, monkeypatch
):
    """A search stops counting past SEARCH_COUNT_BOUND. With every match
    selected it counts them all, once, for itself and for the bar; a member
    who joins after "select all" is not selected, and the bar counts again."""
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 3)
    make_members(org, [f"Ib {i:02d}" for i in range(5)])
    assert "af mere end 3" in table(as_admin, org, q="ib")
    after = select(as_admin, org, scope="all", q="ib").get_data(as_text=True)
    assert "5 valgt" in after and "Viser 1–5 af 5" in after
    make_members(org, ["Ib Sen"], prefix="late")
    fragment = table(as_admin, org, q="ib")
    assert "5 valgt" in fragment and "Ib Sen" in names_in(fragment)
    post_add(as_admin, org)
    assert access_count(org.id) == 5


def test_a_search_pages_alike_whether_it_walks_the_sort_index_or_sorts_its_matches(
    as_admin, org, make_members, monkeypatch
):
    """Many matches: the page is found by walking the sort index and testing
    each member; few, or a page deep enough that the walk would read too
    many: from the matches, sorted. The admin sees the same rows either way."""
    make_members(org, [f"Ann {i:03d}" for i in range(60)] + [f"Bo {i:03d}" for i in range(60)])
    make_members(org, [f"Hanne {i:03d}" for i in range(60)], prefix="h", department="Nord")
    walked = []
    walks = models.members.MemberTable._walks
    monkeypatch.setattr(
        models.members.MemberTable, "_walks", lambda t, n: walked.append((t.page, walks(t, n))) or walked[-1][1]
    )

    def pages():
        return [
            names_in(table(as_admin, org, q="ann", page=page, **args))
            for args in ({}, {"sort": "email", "dir": "desc"}, {"department": "Nord"})
            for page in (1, 2, 3)
        ]

    from_matches = pages()
    assert not any(w for _, w in walked)
    assert from_matches[0] == [f"Ann {i:03d}" for i in range(50)]
    assert from_matches[1] == (
        [f"Ann {i:03d}" for i in range(50, 60)] + ["Anne Admin"] + [f"Hanne {i:03d}" for i in range(39)]
    )
    assert from_matches[6] == [f"Hanne {i:03d}" for i in range(50)]
    # 121 matches of 181 members: page 1 walks about 75 members (within
    # WALK_ROWS), pages 2 and 3 would walk 150 and 225, so they sort the matches.
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 5)
    monkeypatch.setattr(models.counting, "WALK_ROWS", 100)
    walked.clear()
    assert pages() == from_matches
    assert [w for page, w in walked if page == 1][:2] == [True, True]
    assert not any(w for page, w in walked if page > 1)
    # A walk reads WALK_WINDOW members in order first: page 1 of "ann" is
    # full within 100 of them, and not within 30 (it goes on past them).
    for window in (100, 30):
        monkeypatch.setattr(models.counting, "WALK_WINDOW", window)
        assert pages() == from_matches


def test_a_search_ranks_exact_then_prefix_matches_first_on_every_page_and_path(
    as_admin, org, make_members, monkeypatch
):
    """ "mads" found "Mads Medlem" as the 14th row, and a hurried admin
    ticked the first. Now: the exact name, then names and e-mails that
    start with it, then the rest, each by name; alike whether the page is
    walked off the name index or sorted from the matches, and the page's
    "select all on the page" takes the rows it shows."""
    make_members(org, ["Ole Madsen %03d" % i for i in range(60)], prefix="o")
    make_members(org, ["Mads %03d" % i for i in range(54)] + ["Mads"], prefix="x")
    make_members(org, ["Zeta Zulu"], prefix="mads")  # the e-mail starts with "mads"
    expected = (
        ["Mads"] + ["Mads %03d" % i for i in range(54)] + ["Zeta Zulu"] + ["Ole Madsen %03d" % i for i in range(60)]
    )

    def pages(**args):
        return [names_in(table(as_admin, org, q="MADS", page=page, **args)) for page in (1, 2, 3)]

    assert sum(pages(), []) == expected
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 5)  # many matches: walked
    monkeypatch.setattr(models.counting, "WALK_ROWS", 10_000)
    walked = []
    walks = models.members.MemberTable._walks
    monkeypatch.setattr(models.members.MemberTable, "_walks", lambda t, n: walked.append(walks(t, n)) or walked[-1])
    assert sum(pages(), []) == expected
    assert walked and all(walked)
    for window in (70, 10):  # the walk's first members hold the page, or not
        monkeypatch.setattr(models.counting, "WALK_WINDOW", window)
        assert sum(pages(), []) == expected
    # Another order is the admin's own: no ranking.
    assert names_in(table(as_admin, org, q="mads", dir="desc"))[:2] == ["Zeta Zulu", "Ole Madsen 059"]
    page_two = select(as_admin, org, scope="page", checked="true", q="mads", page=2).get_data(as_text=True)
    assert "50 valgt" in page_two
    ticked = re.findall(r'aria-label="Vælg ([^"]+)"[^>]*checked', page_two)
    assert [n for n in ticked if n != "alle på siden"] == expected[50:100]


def test_a_search_every_e_mail_starts_with_is_ranked_by_name_walked_or_sorted(as_admin, org, make_members, monkeypatch):
    """Every demo e-mail starts with "medlem", and the name sort of that
    range of the e-mail index read every member. Common enough, the
    e-mails that start with the search are walked off the name index on
    SQLite; when the walk's first members do not hold the page, they are
    sorted as before. The admin sees the same ranked rows either way."""
    make_members(org, [f"Bo {i:03d}" for i in range(80)], prefix="medlem")
    make_members(org, [f"Medlem {i:03d}" for i in range(10)], prefix="x")
    make_members(org, [f"Ann {i:03d} Medlemsen" for i in range(40)], prefix="a")
    expected = (
        [f"Bo {i:03d}" for i in range(80)]
        + [f"Medlem {i:03d}" for i in range(10)]
        + [f"Ann {i:03d} Medlemsen" for i in range(40)]
    )

    def pages():
        return [names_in(table(as_admin, org, q="medlem", page=page)) for page in (1, 2, 3)]

    assert sum(pages(), []) == expected  # few matches: sorted
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 5)  # many: walked, and ranked
    monkeypatch.setattr(models.counting, "WALK_ROWS", 10_000)  # 2 of them make the tier walkable
    tested = []
    email_prefix = models.members.MemberTable._email_prefix_test
    monkeypatch.setattr(
        models.members.MemberTable, "_email_prefix_test", lambda t, m: tested.append(t.page) or email_prefix(t, m)
    )
    sqlite = db.engine.dialect.name == "sqlite"  # PostgreSQL walks the name index by itself
    assert sum(pages(), []) == expected
    # Page 1's 50 are walked; page 2 needs 100 of the 80 and sorts them.
    assert (1 in tested and 2 in tested) if sqlite else not tested
    # The first 60 members by name hold only 19 of them: sorted.
    monkeypatch.setattr(models.counting, "WALK_WINDOW", 60)
    tested.clear()
    assert sum(pages(), []) == expected
    assert (1 in tested) if sqlite else not tested


def test_a_search_in_a_large_organization_looks_among_its_first_members_first(as_admin, org, make_members, monkeypatch):
    """Past FIRST_WALK members, a search first walks that many in the
    table's order: a common name fills its page there, and the table says
    "more than" the page's last row instead of counting every match. A page
    that is not full there is counted as before. The rows are those an
    exact count shows, for a short search and a ranked one alike."""
    make_members(org, [f"Bo {i:03d}" for i in range(120)] + [f"Ib {i:03d}" for i in range(30)])
    searches = [{"q": "o 0"}, {"q": "bo"}, {"q": "bo", "sort": "email", "dir": "desc"}]
    exact = [[names_in(table(as_admin, org, page=page, **args)) for page in (1, 2, 3)] for args in searches]
    assert "Viser 1–50 af 120" in table(as_admin, org, q="o")  # the Bo's, no name or e-mail starting with it
    monkeypatch.setattr(models.counting, "FIRST_WALK", 60)  # 151 members: the first 60 hold page 1
    monkeypatch.setattr(models.counting, "FTS_WALKS_FIRST", 100)  # SQLite: past its FTS5's own reach
    monkeypatch.setattr(models.counting, "FEW_MATCHES", 40)  # SQLite: fewer than the 100 of "o 0"
    walk_the_name_index(monkeypatch)  # SQLite's walk in name order: tests/test_search_order.py
    # One letter: walked first on SQLite too (three or more: the next tests).
    first = table(as_admin, org, q="o")
    assert "Viser 1–50 af mere end 50" in first and "Side 1 af 2+" in first and 'rel="next"' in first
    # Ten of them among the first 60 foretell fewer than a search counts.
    second = table(as_admin, org, q="o", page=2)
    assert "Viser 51–100 af 120" in second and 'rel="next"' in second
    assert [[names_in(table(as_admin, org, page=page, **args)) for page in (1, 2, 3)] for args in searches] == exact
    assert "120 valgt" in select(as_admin, org, scope="all", q="bo").get_data(as_text=True)  # select all counts all


def test_a_rare_search_in_a_large_organization_is_counted_before_any_walk(as_admin, org, make_members, monkeypatch):
    """On SQLite, past FTS_WALKS_FIRST members, a search of three letters or
    more is counted to FEW_MATCHES first: with no more matches than that,
    its page comes from them, counted exactly, and no member is walked. A
    commoner one is walked as far as those entries foretell, not the first
    FIRST_WALK members (PostgreSQL, without FTS5, walks those first)."""
    make_members(org, [f"Bo {i:03d}" for i in range(120)] + [f"Ib {i:03d}" for i in range(30)])
    rare = ["ib 0", "bo 1", "zzz"]  # 30, 20 and no matches
    exact = [table(as_admin, org, q=q) for q in rare]
    monkeypatch.setattr(models.counting, "FIRST_WALK", 60)
    monkeypatch.setattr(models.counting, "FTS_WALKS_FIRST", 100)
    monkeypatch.setattr(models.counting, "FEW_MATCHES", 40)
    walked = record_pages(monkeypatch)
    few = [table(as_admin, org, q=q) for q in rare]
    assert [pager_line(page) for page in few] == ["Viser 1–30 af 30", "Viser 1–20 af 20", ""]
    assert [names_in(page) for page in few] == [names_in(page) for page in exact]
    commoner = pager_line(table(as_admin, org, q="bo 0"))  # 100 matches
    first_walks = {q for q, page, walk, window in walked if window == models.counting.FIRST_WALK}
    if db.engine.dialect.name == "sqlite":
        # 41 entries among about as many members foretell about as many
        # matches as members, fewer than a search counts: counted and paged
        # at once, and nobody walked.
        assert commoner == "Viser 1–50 af 100"
        assert [q for q, page, walk, window in walked if window] == []
    else:
        assert commoner == "Viser 1–50 af mere end 50"  # no FTS5: PostgreSQL walks first
        assert first_walks == {*rare, "bo 0"}


def test_a_search_its_sample_foretells_is_walked_that_far_and_not_counted(as_admin, org, make_members, monkeypatch):
    """Past FIRST_WALK members, a search that does not fill its page among
    the first of them, or (SQLite, three letters or more) among its first
    FTS5 entries, but whose matches there foretell the page within
    WALK_ROWS members, is walked twice as far: its matches are not counted
    (between 500 and 5,000 at a million members, that read the search
    index's long lists), and the table says "more than" the page's last
    row. A walk that falls short of the page counts them exactly, with the
    page, in one statement. Either way the rows are those an exact count
    shows."""
    make_members(org, [f"Ib {i:03d} " + ("Hansen-Lund" if i % 4 == 0 else "Lund") for i in range(300)])
    searches = ["hansen-", "n-", "HANSEN-LUND"]  # 75 matches each, one in four members

    def pages():
        return {
            q: [
                (pager_line(html), names_in(html)) for page in (1, 2) for html in [table(as_admin, org, q=q, page=page)]
            ]
            for q in searches
        }

    exact = pages()
    assert exact["hansen-"][0][0] == "Viser 1–50 af 75" and exact["n-"] == exact["hansen-"]
    monkeypatch.setattr(models.counting, "FIRST_WALK", 60)  # 15 of them there: page 1 within 200
    monkeypatch.setattr(models.counting, "FTS_WALKS_FIRST", 100)
    monkeypatch.setattr(models.counting, "FEW_MATCHES", 40)  # SQLite: 41 entries, among about 164
    monkeypatch.setattr(models.counting, "WALK_ROWS", 250)
    # Foretold more than are counted (page 1: to 50 x 301 / 250 = 61).
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 5)
    walk_the_name_index(monkeypatch)
    walked, counted = record_pages(monkeypatch), []
    count = models.members.MemberTable._count
    monkeypatch.setattr(
        models.members.MemberTable, "_count", lambda t, bound: counted.append((t.filter.q, t.page)) or count(t, bound)
    )
    foretold = pages()
    for q in searches:
        assert foretold[q][0] == ("Viser 1–50 af mere end 50", exact[q][0][1])
        assert foretold[q][1] == exact[q][1]  # page 2 is not foretold within WALK_ROWS: counted
        windows = [window for searched, page, walk, window in walked if searched == q and page == 1 and window]
        assert windows[-1] not in (None, models.counting.FIRST_WALK) and windows[-1] <= 500
    # Page 1 was neither counted nor paged from its matches.
    assert [(q, page) for q, page in counted if page == 1] == []
    assert [q for q, page, walk, window in walked if page == 1 and window is None] == []

    # A walk that falls short of the page (the sample met more than its
    # share): the same rows, counted exactly with them in one statement.
    monkeypatch.setattr(models.counting, "foretold_walk", lambda *args: 40)
    counted.clear()
    fallen = pages()
    for q in searches:
        assert fallen[q] == exact[q]
    assert [(q, page) for q, page in counted if page == 1] == []


def test_many_matches_standing_together_past_the_walk_show_the_rows_an_exact_count_shows(
    as_admin, org, make_members, monkeypatch
):
    """Past FIRST_WALK members, a search with many matches that all stand
    together far down the name order (one first name's members: "vind" in
    every Øjvind, after every Bo) falls short of the window foretold for it
    and of WALK_WINDOW members. Counted to no more than the bound, they are
    sorted; more than counted they may be most of the table, and the walk
    goes on to the end. Either way the rows are those an exact count shows,
    and every walk has its window."""
    make_members(org, [f"Øjvind {i:03d} Lund" for i in range(100)], prefix="r")  # the first ids
    make_members(org, [f"Bo {i:03d} Lund" for i in range(200)])  # the first 200 in name order

    def pages():
        return [
            (pager_line(html), names_in(html))
            for page in (1, 2)
            for html in [table(as_admin, org, q="vind", page=page)]
        ]

    exact = pages()
    assert exact[0] == ("Viser 1–50 af 100", [f"Øjvind {i:03d} Lund" for i in range(50)])
    assert exact[1] == ("Viser 51–100 af 100", [f"Øjvind {i:03d} Lund" for i in range(50, 100)])
    monkeypatch.setattr(models.counting, "FIRST_WALK", 60)
    monkeypatch.setattr(models.counting, "FTS_WALKS_FIRST", 100)  # SQLite: as past its FTS5's reach
    monkeypatch.setattr(models.counting, "FEW_MATCHES", 40)  # SQLite: 41 entries among the first 42 ids
    monkeypatch.setattr(models.counting, "WALK_ROWS", 1000)
    monkeypatch.setattr(models.counting, "WALK_WINDOW", 150)
    # Page 1 counts to 16 (50 x 301 / 1000), and 64 with the page (sorted_bound).
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 5)
    walk_the_name_index(monkeypatch)
    walked = record_pages(monkeypatch)
    together = pages()
    assert [names for line, names in together] == [names for line, names in exact]
    # Page 1 counts to 16 (50 x 301 / 1000) and finds more: "more than".
    # Page 2 on PostgreSQL: the first walk met no match, and the 100 are
    # counted with the page (to 124, counting.sorted_bound) and sorted; on
    # SQLite the FTS5 sample foretold more than that, counted to 31.
    second = "Viser 51–100 af mere end 31" if db.engine.dialect.name == "sqlite" else "Viser 51–100 af 100"
    assert [line for line, names in together] == ["Viser 1–50 af mere end 16", second]
    assert [(page, window) for q, page, walk, window in walked if walk and window is None] == []
    # Page 1: walked within WALK_WINDOW (all Bo), then on to the end.
    windows = [window for q, page, walk, window in walked if page == 1 and walk]
    assert models.counting.WALK_WINDOW in windows and windows[-1] == 301


def test_one_or_two_rare_letters_in_a_large_organization_are_found_wherever_they_stand(
    as_admin, org, make_members, monkeypatch
):
    """Past FIRST_WALK members, one or two letters that do not fill their
    page among the first members are rare: an index finds them, where a
    trigram index alone holds nothing that short and every member was
    tested (SQLite: models.members.short_match; PostgreSQL: the index of
    one- and two-character substrings, ix_membership_grams). They are found at the
    start, inside and at the very end of a name or an e-mail, after a rename
    and not after a member leaves; the rows are those a table small enough
    to test every member shows."""
    from models import User

    make_members(org, [f"Bo {i:03d}" for i in range(150)])
    make_members(org, ["Quist Ørn", "Jacques Brü", "Ole Lizq", "Åse Ø"], prefix="r")
    user = User(email="lise@firma.qz", name="Lise Holm", language="da")
    db.session.add(user)
    Membership.create(org, user, role=Role.MEMBER, department="Sundhed")
    db.session.commit()
    searches = ["q", "Q", "ü", "rü", "zq", "qz", "z", "ø", "å", "ørn", "xy", '"', "%"]

    def found():
        return {q: (pager_line(page), names_in(page)) for q in searches for page in [table(as_admin, org, q=q)]}

    exact = found()  # 155 members: every one is tested
    # The name that starts with it first (ranked), then by name.
    assert exact["q"] == ("Viser 1–4 af 4", ["Quist Ørn", "Jacques Brü", "Lise Holm", "Ole Lizq"])
    assert exact["ü"][1] == exact["rü"][1] == ["Jacques Brü"]  # the last letters of the name
    assert exact["qz"][1] == ["Lise Holm"]  # the last letters of the e-mail
    assert exact["zq"][1] == ["Ole Lizq"] and exact["xy"] == exact['"'] == exact["%"] == ("", [])
    monkeypatch.setattr(models.counting, "FIRST_WALK", 60)  # the first 60 hold none of them
    monkeypatch.setattr(models.counting, "FTS_WALKS_FIRST", 100)
    monkeypatch.setattr(models.counting, "FEW_MATCHES", 2)  # SQLite: fewer than the 4 of "q"
    asked = []
    short_match = models.members.short_match

    def recording(folded):
        condition = short_match(folded)
        asked.append((folded, condition is not None))
        return condition

    monkeypatch.setattr(models.members, "short_match", recording)
    counted = []
    count = models.members.MemberTable._count
    monkeypatch.setattr(models.members.MemberTable, "_count", lambda t, bound: counted.append(bound) or count(t, bound))
    assert found() == exact
    # More than FEW_MATCHES, but the walk found none of them among its 60:
    # they are foretold few, and counted and paged by one statement, not
    # counted first and read again.
    assert counted == []
    short = {"q", "ü", "rü", "zq", "qz", "z", "ø", "å", "xy", '"', "%"}
    assert {q for q, served in asked if served} == (short if db.engine.dialect.name == "sqlite" else set())

    user.rename(name="Lise Lizq")
    leaver = db.select(User.id).where(User.name == "Ole Lizq").scalar_subquery()
    db.session.execute(db.delete(Membership).where(Membership.user_id == leaver))
    db.session.commit()
    assert names_in(table(as_admin, org, q="zq")) == ["Lise Lizq"]
    assert names_in(table(as_admin, org, q="q")) == ["Quist Ørn", "Jacques Brü", "Lise Lizq"]


def test_a_search_with_digits_finds_exactly_its_members(as_admin, org, make_members):
    """On PostgreSQL the trigram index is asked for the longest run of
    digits alone (models.planner.indexed_part), and the whole search is
    tested on what it finds."""
    from models.planner import indexed_part

    assert [indexed_part(q) for q in ("medlem000529", "0005", "mette", "ab 12 3456 78")] == [
        "000529",
        "0005",
        "mette",
        "3456",
    ]
    make_members(org, ["Bo Holm 4711", "Ib Lund 4711", "Ole Holm"])
    assert names_in(table(as_admin, org, q="holm 4711")) == ["Bo Holm 4711"]
    assert names_in(table(as_admin, org, q="4711")) == ["Bo Holm 4711", "Ib Lund 4711"]
    assert names_in(table(as_admin, org, q="lund 47111")) == []


def test_a_long_search_asks_its_uncommon_trigrams_and_shows_only_what_holds_it_all(
    as_admin, org, make_members, monkeypatch
):
    """A phrase of many trigrams read every one's list in SQLite's FTS5, the
    common ones most: a long search whose trigrams are some common, some
    not, asks for the uncommon ones and tests itself on what they find.
    Members who hold those trigrams, but not the search, are not shown, in
    the table or in select all."""
    # Each of these holds "and" and "sen" but not "andersen".
    make_members(org, ["Nde Ers And", "Sen Ande Rsen", "Dersen Ander", "Erse Nandse"])
    make_members(org, ["Bo Andersen", "Andersen Sara", "Ib Mortensen"], prefix="x")
    make_members(org, ["Ole Holm"], prefix="andersen")  # the e-mail holds it

    def shown():
        return [names_in(table(as_admin, org, q=q)) for q in ("Andersen", "ander sen", "nde ers and", "andersenx")] + [
            "3 valgt" in select(as_admin, org, scope="all", q="andersen").get_data(as_text=True)
        ]

    # Name and e-mail prefixes first, ranked.
    expected = [["Andersen Sara", "Ole Holm", "Bo Andersen"], [], ["Nde Ers And"], [], True]
    assert shown() == expected  # the phrase
    asked = []
    match_all = models.members._match_all

    def recording(grams, index="membership_search"):
        if index == "membership_search":  # not the index in name order: asked for the same
            asked.append(grams)
        return match_all(grams, index)

    monkeypatch.setattr(models.members, "_match_all", recording)
    monkeypatch.setattr(
        models.members, "_uncommon_trigrams", lambda trigrams: [t for t in trigrams if t in {"and", "sen"}]
    )
    assert shown() == expected
    if db.engine.dialect.name == "sqlite":
        assert ["and", "sen"] in asked and ["and"] in asked


def test_a_trigram_is_common_when_its_first_entries_stand_close(org, make_members, monkeypatch):
    """How far the first TRIGRAM_SAMPLE entries of a trigram's FTS5 list
    reach tells how common it is; a list that ends before them is rare, and
    one with no entry means no member holds the search."""
    from models.members import _uncommon_trigrams

    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's trigram index is asked as planner.indexed_part says")

    make_members(org, [f"Anna {i:02d}" for i in range(20)] + ["Xqz Holm"])
    monkeypatch.setattr(models.counting, "TRIGRAM_SAMPLE", 2)
    monkeypatch.setattr(models.counting, "COMMON_TRIGRAM", 1.0)
    assert _uncommon_trigrams(["xqz", "ann", "a 1"]) == ["xqz", "ann", "a 1"]
    # Every full sample common: the rare one, and the least common of the
    # others ("a 1" first stands at Anna 10, "ann" at once).
    monkeypatch.setattr(models.counting, "COMMON_TRIGRAM", -1.0)
    assert _uncommon_trigrams(["xqz", "ann", "a 1"]) == ["xqz", "a 1"]
    assert _uncommon_trigrams(["ann", "a 1"]) == []
    assert _uncommon_trigrams(["xqz", "zzz"]) is None


def test_a_search_counts_further_in_a_large_organization_to_know_whether_to_walk(org):
    """A walk for page p reads about p x 50 x members / matches members; the
    search counts far enough to tell whether that stays within WALK_ROWS."""
    from models.access import AccessState
    from models.members import MemberFilter, MemberTable

    def bound(members, page=1):
        return MemberTable(
            org.id, "add", MemberFilter(q="ann"), page=page, access=AccessState(0, members)
        )._search_bound()

    assert bound(100_000) == models.counting.SEARCH_COUNT_BOUND
    assert bound(1_000_000) == 2_500
    assert bound(1_000_000, page=3) == 7_500


def test_unticking_after_select_all_leaves_that_member_out(as_admin, org, make_members):
    members = make_members(org, [f"Ib {i:02d}" for i in range(3)])
    select(as_admin, org, scope="all", q="ib")
    assert "2 valgt" in select(as_admin, org, scope="row", member_id=members[1].id, q="ib").get_data(as_text=True)
    post_add(as_admin, org)
    assert access_ids(org) == {members[0].id, members[2].id}


def test_a_double_clicked_add_is_harmless(as_admin, org, make_members):
    members = make_members(org, ["Bo Berg"])
    select(as_admin, org, scope="row", member_id=members[0].id, checked="true")
    assert post_add(as_admin, org).status_code == 200
    second = post_add(as_admin, org)
    assert second.status_code == 422 and flash_text(second) == "Vælg mindst ét medlem."
    assert access_count(org.id) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == 1


def test_members_who_left_meanwhile_are_skipped_and_reported(as_admin, org, make_members):
    members = make_members(org, ["Bo Berg", "Anna Ager"])
    for m in members:
        select(as_admin, org, scope="row", member_id=m.id, checked="true")
    db.session.delete(db.session.get(Membership, members[0].id))
    db.session.commit()
    response = post_add(as_admin, org)
    assert flash_text(response) == (
        "1 medlem har nu adgang. 1 valgt medlem blev sprunget over: ikke længere i organisationen."
    )
    assert access_ids(org) == {members[1].id}


def test_another_organizations_member_cannot_be_selected(as_admin, org, make_org, make_members):
    other = make_members(make_org("Andet"), ["Fremmed Person"], prefix="x")
    response = select(as_admin, org, scope="row", member_id=other[0].id, checked="true")
    missing = select(as_admin, org, scope="row", member_id=999999, checked="true")
    assert response.status_code == missing.status_code == 404
    assert response.get_data(as_text=True).replace("999999", "") == missing.get_data(as_text=True).replace("999999", "")
    assert "0 valgt" in table(as_admin, org)


def grant(org, members, actor):
    from models.access import grant_access

    grant_access(org.id, actor.id, db.select(Membership.id).where(Membership.id.in_([m.id for m in members])))
    db.session.commit()


def test_remove_via_actions_cancels_scheduled_sends_and_their_jobs(
    as_admin, org, admin, make_members, make_scheduled_send
):
    members = make_members(org, ["Bo Berg", "Anna Ager", "Carl Cort"])
    grant(org, members, admin)
    send, job = make_scheduled_send(org, members[0])
    other_send, other_job = make_scheduled_send(org, members[2])

    panel = as_admin.get(url(org), htmx=True).get_data(as_text=True)
    assert "3 medlemmer har adgang" in panel and "Handlinger" in panel and 'aria-label="Tilføj medlemmer"' in panel
    remove_view = as_admin.get(url(org, "/remove"), htmx=True).get_data(as_text=True)
    assert "Fjern" in remove_view and names_in(remove_view) == ["Anna Ager", "Bo Berg", "Carl Cort"]

    for m in members[:2]:
        select(as_admin, org, view="remove", scope="row", member_id=m.id, checked="true")
    dialog = as_admin.get(url(org, "/remove/confirm"), htmx=True).get_data(as_text=True)
    assert "2 medlemmer mister adgangen til Digital Post." in dialog
    assert "1 planlagt invitation eller påmindelse bliver annulleret." in dialog

    response = as_admin.post(url(org, "/remove"), htmx=True)
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["closeDialog"] is True
    assert flash_text(response) == "2 medlemmer har ikke længere adgang. 1 planlagt udsendelse blev annulleret."
    assert access_ids(org) == {members[2].id}
    db.session.expire_all()
    assert (send.state, send.cancel_reason) == (SendState.CANCELLED, "access_revoked")
    assert other_send.state == SendState.SCHEDULED
    assert job.id not in scheduled_job_ids() and other_job.id in scheduled_job_ids()
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "access.revoked")).one()
    assert event.details == {"count": 2, "cancelled_sends": 1}


def test_remove_with_nothing_selected_changes_nothing(as_admin, org, admin, make_members):
    members = make_members(org, ["Bo Berg"])
    grant(org, members, admin)
    response = as_admin.post(url(org, "/remove"), htmx=True)
    assert response.status_code == 422 and access_ids(org) == {members[0].id}


def test_audit_log_lists_who_did_what_to_whom_newest_first(as_admin, org, admin, make_members):
    members = make_members(org, ["Bo Berg", "Anna Ager"])
    grant(org, members, admin)
    from models.access import revoke_access

    revoke_access(org.id, admin.id, db.select(Membership.id).where(Membership.id == members[0].id))
    db.session.commit()
    page = as_admin.get(f"/orgs/{org.id}/settings/audit/").get_data(as_text=True)
    removed, gave = page.index("Fjernede adgangen for 1 medlem"), page.index("Gav 2 medlemmer adgang")
    assert removed < gave and "Anna Ager, Bo Berg" in page and "Anne Admin" in page


def test_access_pages_are_for_admins_of_the_organization(as_member, org, app, make_org, make_user):
    for path in ("/", "/add", "/remove", "/remove/confirm"):
        assert as_member.get(url(org, path)).status_code == 403
    assert as_member.post(url(org, "/add"), htmx=True).status_code == 403
    assert as_member.get(f"/orgs/{org.id}/settings/audit/").status_code == 403
    outsider = Session(app.test_client())
    outsider.login(make_user(make_org("Andet"), role=Role.ADMIN))
    assert outsider.get(url(org, "/add")).status_code == 404
    assert outsider.post(url(org, "/add"), htmx=True).status_code == 404


def test_grant_without_csrf_token_is_refused(as_admin, org, make_members):
    members = make_members(org, ["Bo Berg"])
    select(as_admin, org, scope="row", member_id=members[0].id, checked="true")
    assert as_admin.post(url(org, "/add"), htmx=True, csrf=False).status_code == 400
    assert access_ids(org) == set()


def test_search_short_and_long_queries_and_follows_renames(as_admin, org, make_members):
    (bo,) = make_members(org, ["Bo Berg"])
    make_members(org, ["Hanne Holm"], prefix="h")
    assert names_in(table(as_admin, org, q="bo")) == ["Bo Berg"]  # under three characters: a scan
    assert names_in(table(as_admin, org, q="ANNE")) == ["Anne Admin", "Hanne Holm"]  # the trigram index
    bo.user.rename(name="Bodil Østergaard", email="Bodil.O@Example.dk")
    db.session.commit()
    assert names_in(table(as_admin, org, q="bodil.o@example")) == ["Bodil Østergaard"]
    assert names_in(table(as_admin, org, q="østergaard")) == ["Bodil Østergaard"]
    assert names_in(table(as_admin, org, q="berg")) == []
    db.session.delete(bo)
    db.session.commit()
    assert names_in(table(as_admin, org, q="østergaard")) == []


def test_a_stale_page_after_deactivation_gets_a_clear_answer(as_admin, org, admin, make_members):
    members = make_members(org, ["Bo Berg"])
    from models import DigitalPostIntegration

    DigitalPostIntegration.find(org.id).deactivate(admin.id)
    db.session.commit()
    response = select(as_admin, org, scope="row", member_id=members[0].id, checked="true")
    assert response.status_code == 409 and "Noget er ændret i mellemtiden" in response.get_data(as_text=True)
    assert as_admin.get(url(org, "/add")).status_code == 302


def test_the_row_boxes_send_the_page_as_ticked(as_admin, org, make_org, make_members):
    """The tbody's one hx-post sends every ticked box of the page: ticked ones
    join the selection, the page's others leave it, other ids are ignored."""
    members = make_members(org, [f"Ib {i:02d}" for i in range(4)])
    stranger = make_members(make_org("Nabokommune"), ["Fremmed"], prefix="x")[0]
    tick = [m.id for m in members[:3]] + [stranger.id, "junk"]
    assert "3 valgt" in select(as_admin, org, scope="rows", member_id=tick).get_data(as_text=True)
    bar = select(as_admin, org, scope="rows", member_id=[members[1].id]).get_data(as_text=True)
    assert "1 valgt" in bar and 'id="selection-bar"' in bar and "<table" not in bar
    post_add(as_admin, org)
    assert access_ids(org) == {members[1].id}


def test_adding_everyone_on_the_last_page_shows_the_page_that_is_left(as_admin, org, make_members):
    """Page 2 of the picker, all of it added: the answer is the last page
    still there, and the address says so, never "page 2 of 1"."""
    members = make_members(org, [f"Ib {i:02d}" for i in range(60)])
    for m in members[49:]:  # page 2: Ib 49 to Ib 59, after Anne Admin and Ib 00 to Ib 48
        select(as_admin, org, scope="row", member_id=m.id, checked="true", page=2)
    response = as_admin.client.post(
        url(org, "/add"),
        data={"page": "2"},
        headers={"HX-Request": "true", "HX-Target": "member-table", "X-CSRFToken": as_admin.token},
    )
    body = response.get_data(as_text=True)
    assert flash_text(response) == "11 medlemmer har nu adgang." and response.status_code == 200
    assert "Side 1 af 1" in body and "Side 2" not in body
    assert len(names_in(body)) == 50  # the admin and the 49 Ibs left
    assert "page=" not in response.headers["HX-Push-Url"]


def test_an_events_members_and_each_members_history_read_back_exactly(org, admin, make_members):
    from models.access import event_member_ids, member_history, revoke_access

    members = make_members(org, [f"Ib {i:03d}" for i in range(2 * BLOCK_BITS + 3)])  # over two block edges
    chosen = members[::2]
    grant(org, chosen, admin)
    granted = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "access.granted")).one()
    assert event_member_ids(granted.id) == {m.id for m in chosen}
    assert granted.member_names == ["Ib 000", "Ib 002", "Ib 004", "Ib 006", "Ib 008"]

    revoke_access(org.id, admin.id, db.select(Membership.id).where(Membership.id == chosen[-1].id))
    db.session.commit()
    revoked = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "access.revoked")).one()
    assert event_member_ids(revoked.id) == {chosen[-1].id} and revoked.member_names == [chosen[-1].user.name]
    assert [e.id for e in member_history(chosen[-1])] == [revoked.id, granted.id]
    assert [e.id for e in member_history(chosen[0])] == [granted.id]
    assert member_history(members[1]) == []


def test_the_audit_log_names_five_members_and_counts_the_rest(as_admin, org, admin, make_members):
    members = make_members(org, ["Gro", "Fie", "Eva", "Dan", "Cai", "Bo", "Al"])
    grant(org, members, admin)
    page = as_admin.get(f"/orgs/{org.id}/settings/audit/").get_data(as_text=True)
    assert "Al, Bo, Cai, Dan, Eva og 2 flere" in page


def test_add_picker_when_nobody_then_everybody_then_all_but_a_newcomer_has_access(as_admin, org, admin, make_members):
    """The table leaves out its per-row access check when none or all have
    access: each of those states, and the step out of them, shows the right rows."""
    members = make_members(org, ["Bo Berg", "Anna Ager"])
    assert names_in(table(as_admin, org)) == ["Anna Ager", "Anne Admin", "Bo Berg"]
    assert as_admin.get(url(org)).status_code == 302  # nobody has access: straight to Add

    select(as_admin, org, scope="all")
    assert flash_text(post_add(as_admin, org)) == "3 medlemmer har nu adgang."
    assert names_in(table(as_admin, org)) == []
    assert names_in(table(as_admin, org, view="remove")) == ["Anna Ager", "Anne Admin", "Bo Berg"]

    (newcomer,) = make_members(org, ["Cille Cort"])
    assert names_in(table(as_admin, org)) == ["Cille Cort"]
    assert names_in(table(as_admin, org, view="remove")) == ["Anna Ager", "Anne Admin", "Bo Berg"]
    assert "3 medlemmer har adgang" in as_admin.get(url(org), htmx=True).get_data(as_text=True)
    assert members[0].id in access_ids(org) and newcomer.id not in access_ids(org)


def test_access_since_is_the_day_of_the_latest_grant(as_admin, org, admin, make_members, app):
    from datetime import timedelta

    from formats import day
    from models.access import revoke_access

    bo, anna = make_members(org, ["Bo Berg", "Anna Ager"])
    grant(org, [bo, anna], admin)
    first = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "access.granted")).one()
    first.created_at -= timedelta(days=40)  # an older grant
    db.session.commit()
    revoke_access(org.id, admin.id, db.select(Membership.id).where(Membership.id == bo.id))
    grant(org, [bo], admin)
    html = as_admin.get(url(org), htmx=True).get_data(as_text=True)
    with app.test_request_context():
        then, today = day(first.created_at), day(db.session.get(AuditEvent, first.id + 2).created_at)
    assert then != today
    rows = dict(re.findall(r"<td>(Anna Ager|Bo Berg)</td>.*?<td>([^<]*)</td>\s*</tr>", html, re.S))
    assert rows == {"Anna Ager": then, "Bo Berg": today}


def test_a_member_who_leaves_takes_their_access_along(as_admin, org, admin, make_members):
    """The count stays true, and a newcomer never inherits the leaver's access,
    even where the database gives the leaver's id again (SQLite's last id)."""
    members = make_members(org, ["Bo Berg", "Anna Ager", "Carl Cort"])
    grant(org, members, admin)
    leaver_id = members[-1].id
    db.session.delete(members[-1])
    db.session.commit()
    assert access_count(org.id) == 2 and access_ids(org) == {members[0].id, members[1].id}
    (newcomer,) = make_members(org, ["Dorte Dahl"])
    assert newcomer.id >= leaver_id
    assert newcomer.id not in access_ids(org)
    assert names_in(table(as_admin, org)) == ["Anne Admin", "Dorte Dahl"]


def test_a_selection_must_be_over_membership_or_nothing_is_granted(org, admin, make_members):
    """The verbs extend the selection's SELECT; one over something else (a
    bare literal id) would otherwise stand for every member."""
    from models.access import grant_access

    (bo,) = make_members(org, ["Bo Berg"])
    with pytest.raises(ValueError):
        grant_access(org.id, admin.id, db.select(db.literal(bo.id)))
    db.session.rollback()
    assert access_ids(org) == set()


def test_the_member_count_follows_joins_and_leaves_however_made(org, make_org, make_members):
    """Kept by the database: an ORM insert, a bulk insert, a delete and a
    bulk delete each move it, and only for their own organization."""
    from models import Organization
    from models.access import access_state

    other = make_org("Anden Kommune")
    members = make_members(org, ["Bo Berg", "Anna Ager", "Carl Cort"])
    make_members(other, ["Dorte Dahl"])
    before = access_state(org.id).members
    db.session.execute(
        db.insert(Membership),
        [
            {"org_id": org.id, "user_id": m.user_id, "role": "member", "department": "", "name_folded": "", "email": ""}
            for m in make_members(other, ["Eva", "Finn"])
        ],
    )
    db.session.commit()
    assert access_state(org.id).members == before + 2
    db.session.delete(members[0])
    db.session.commit()
    db.session.execute(db.delete(Membership).where(Membership.id.in_([members[1].id, members[2].id])))
    db.session.commit()
    assert access_state(org.id).members == before - 1
    assert access_state(other.id).members == 3
    assert db.session.scalar(db.select(Organization.member_count).where(Organization.id == org.id)) == before - 1


def test_department_counts_follow_joins_moves_and_leaves_however_made(org, make_org, make_members):
    """Kept by the database, like the member count: members moving both ways
    between two departments in one statement leave both counts as they were."""
    from models import DepartmentCount

    def counts(o):
        rows = db.select(DepartmentCount.department, DepartmentCount.members).where(DepartmentCount.org_id == o.id)
        return {d: n for d, n in db.session.execute(rows) if n}

    other = make_org("Anden Kommune")
    nord = make_members(org, ["Bo Berg", "Anna Ager"], department="Nord")
    syd = make_members(org, ["Carl Cort"], department="Syd")
    make_members(other, ["Dorte Dahl"], department="Nord")
    before = counts(org)
    assert before["Nord"] == 2 and before["Syd"] == 1
    swap = db.case((Membership.department == "Nord", "Syd"), else_="Nord")
    db.session.execute(db.update(Membership).where(Membership.id.in_([nord[0].id, syd[0].id])).values(department=swap))
    db.session.commit()
    assert counts(org) == before
    db.session.execute(db.update(Membership).where(Membership.id == nord[1].id).values(department="Øst"))
    db.session.execute(db.update(Membership).values(role="member"))  # no department changes: nothing moves
    db.session.commit()
    assert counts(org) == {**before, "Nord": 1, "Øst": 1}
    db.session.execute(db.delete(Membership).where(Membership.id.in_([nord[0].id, syd[0].id])))
    db.session.commit()
    assert counts(org) == {d: n for d, n in before.items() if d not in ("Nord", "Syd")} | {"Øst": 1}
    assert counts(other) == {"Nord": 1}


def test_a_department_shows_its_exact_size_past_the_count_bound(as_admin, org, make_members, monkeypatch):
    """A department filter alone, before anybody has access: the table's size
    is the department's, not "more than COUNT_BOUND"."""
    monkeypatch.setattr(models.counting, "COUNT_BOUND", 3)
    make_members(org, [f"Nord {i:02d}" for i in range(5)], department="Nord")
    assert "Viser 1–5 af 5" in table(as_admin, org, department="Nord")
    assert "af mere end 3" in table(as_admin, org, department="Nord", role="member")


def test_an_events_first_names_are_found_page_by_page_when_it_has_many(org, admin, make_members, monkeypatch):
    """Past FEW_MEMBERS, the names are read off the name index a page at a
    time: here none of the event's members is on the first page."""
    import models.access

    monkeypatch.setattr(models.access, "FEW_MEMBERS", 2)
    members = make_members(org, [f"Ib {i:03d}" for i in range(130)])
    chosen = members[60::7]
    grant(org, chosen, admin)
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "access.granted")).one()
    assert event.member_names == ["Ib 060", "Ib 067", "Ib 074", "Ib 081", "Ib 088"]


def test_bit_blocks_hold_every_id_of_a_full_block_and_no_other(app):
    """A whole block (62 ids) is one signed 64-bit value, and reads back exactly."""
    from sqlalchemy import literal, select, union_all

    from models.bitblocks import aggregate, block_and_bit, holds, ids_of

    ids = [0, 61, 62, 123, 124, 10_000]
    ids_in_block_1 = list(range(BLOCK_BITS, 2 * BLOCK_BITS))
    members = union_all(*(select(literal(i).label("id")) for i in sorted(set(ids) | set(ids_in_block_1)))).subquery()
    rows = db.session.execute(aggregate(select(members.c.id), members.c.id)).all()
    assert ids_of((block, bits) for block, bits, _ in rows) == set(ids) | set(ids_in_block_1)
    full = next(bits for block, bits, count in rows if block == 1)
    assert full == 2**BLOCK_BITS - 1 < 2**63 and next(c for b, _, c in rows if b == 1) == BLOCK_BITS
    assert block_and_bit(123) == (1, 1 << 61) and holds(full, 123)
    assert not holds(full & ~(1 << 61), 123) and not holds(None, 0)


def member_blocks_of(org_id):
    from models.org import MemberBlock

    rows = db.session.execute(
        db.select(MemberBlock.block, MemberBlock.bits, MemberBlock.members).where(MemberBlock.org_id == org_id)
    ).all()
    return {block: (bits, members) for block, bits, members in rows}


def blocks_from_rows(org_id):
    """The member blocks as they should be: counted from membership itself."""
    ids = db.session.scalars(db.select(Membership.id).where(Membership.org_id == org_id)).all()
    blocks = {}
    for member_id in ids:
        bits, members = blocks.get(member_id // BLOCK_BITS, (0, 0))
        blocks[member_id // BLOCK_BITS] = (bits | 1 << (member_id % BLOCK_BITS), members + 1)
    return blocks


def test_the_member_blocks_follow_members_who_join_leave_and_move(org, make_org, make_members):
    """Item 5 of issue 25: member_block is kept by the database for every
    way a membership changes, in bulk and one at a time."""
    from cli import _bulk_members

    other = make_org("Anden")
    many = make_members(org, [f"M {i:03d}" for i in range(130)])  # three blocks and more
    make_members(other, ["Ane", "Bo"], prefix="o")
    _bulk_members(other, 70, start=0)
    db.session.commit()
    assert member_blocks_of(org.id) == blocks_from_rows(org.id) and len(member_blocks_of(org.id)) >= 3
    assert member_blocks_of(other.id) == blocks_from_rows(other.id)
    for member in many[: BLOCK_BITS + 5]:  # a whole block empties, and its row goes
        db.session.delete(member)
    db.session.execute(db.delete(Membership).where(Membership.id.in_([m.id for m in many[-3:]])))
    db.session.execute(db.update(Membership).where(Membership.id == many[-4].id).values(org_id=other.id))
    db.session.execute(db.update(Membership).where(Membership.org_id == org.id).values(department="Andet"))
    db.session.commit()
    assert member_blocks_of(org.id) == blocks_from_rows(org.id)
    assert member_blocks_of(other.id) == blocks_from_rows(other.id)
    assert all(members > 0 for _, members in member_blocks_of(org.id).values())


def test_select_all_without_a_filter_grants_exactly_who_was_chosen(as_admin, org, admin, make_org, make_members):
    """Every member, read from the member blocks: those who have access
    already are not granted twice, a newcomer after "select all" and an
    unticked member are left out, one who left meanwhile is skipped, and the
    audit names exactly the rest."""
    members = make_members(org, [f"Ib {i:03d}" for i in range(140)])
    make_members(make_org("Anden"), ["Fremmed"], prefix="x")
    already = members[10:75]
    grant(org, already, admin)
    before = access_ids(org)
    select(as_admin, org, scope="all")
    select(as_admin, org, scope="row", member_id=members[3].id)  # unticked
    late = make_members(org, ["Ib Sen"], prefix="late")
    make_members(make_org("Tredje"), [f"T {i}" for i in range(2 * BLOCK_BITS)], prefix="t")
    # A newcomer in a block past the ceiling, ticked one by one: granted too.
    ticked = make_members(org, ["Ib Ny"], prefix="ny")
    select(as_admin, org, scope="row", member_id=ticked[0].id, checked="true")
    db.session.delete(db.session.get(Membership, members[5].id))
    db.session.commit()
    response = post_add(as_admin, org)
    everyone = set(db.session.scalars(db.select(Membership.id).where(Membership.org_id == org.id)))
    expected = everyone - {members[3].id, late[0].id}
    assert ticked[0].id in expected and ticked[0].id // BLOCK_BITS > late[0].id // BLOCK_BITS
    assert access_ids(org) == expected
    granted = expected - before
    assert flash_text(response) == f"{len(granted)} medlemmer har nu adgang."
    event = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event_member_ids(event.id) == granted
    blocks = db.session.execute(db.select(AccessBlock.block, AccessBlock.bits, AccessBlock.members)).all()
    assert sum(m for _, _, m in blocks) == len(expected) == access_count(org.id)
    assert all(bin(bits).count("1") == m for _, bits, m in blocks)
