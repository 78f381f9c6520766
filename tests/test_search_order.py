"""SQLite's member search index in name order (models.search_order): its
keys follow each organization's order of (name_folded, id) through joins,
renames and leavers, its entries are exactly its members', and a search
walked off it shows the rows the name index's walk shows."""

import random

import pytest
from sqlalchemy import text

import models.counting
import models.members
import models.search_order
from extensions import db
from models import Membership, User
from models.org import fold
from models.search_order import ORDERED_TABLE, ORG_KEYS, SPACING, order_search_index, unordered_count
from tests.test_access import grant, names_in, pager_line, record_pages, table, walk_the_name_index

pytestmark = pytest.mark.usefixtures("active_integration")


@pytest.fixture(autouse=True)
def _sqlite_only(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL walks its name index: the ordered search index is SQLite's")


def keys(org) -> list[tuple[str, int, int | None]]:
    """(name_folded, id, search_key) of the organization's members, in the table's order."""
    rows = db.session.execute(
        text("SELECT name_folded, id, search_key FROM membership WHERE org_id = :org ORDER BY name_folded, id"),
        {"org": org.id},
    )
    return [tuple(row) for row in rows]


def entries(trigram: str) -> set[int]:
    """The ordered index's keys holding `trigram`."""
    rows = db.session.scalars(
        text(f"SELECT rowid FROM {ORDERED_TABLE} WHERE {ORDERED_TABLE} MATCH :q"), {"q": f'"{trigram}"'}
    )
    return set(rows)


def assert_in_order(org) -> None:
    """The keyed members' keys rise with the table's order, within the
    organization's range, and the index holds each one's trigrams under its
    key and nobody else's."""
    members = keys(org)
    keyed = [key for _, _, key in members if key is not None]
    assert keyed == sorted(keyed) and len(set(keyed)) == len(keyed)
    assert all(org.id * ORG_KEYS < key < (org.id + 1) * ORG_KEYS for key in keyed)
    held = {}
    for name, _, key in members:
        for i in range(len(name) - 2):
            held.setdefault(name[i : i + 3], set()).add(key)
    in_range = range(org.id * ORG_KEYS, (org.id + 1) * ORG_KEYS)
    for trigram in sorted(held)[:: max(1, len(held) // 40)]:
        assert {k for k in entries(trigram) if k in in_range} == held[trigram] - {None}


def test_joins_renames_and_leavers_keep_the_order_and_its_entries(org, make_members, app):
    rng = random.Random(7)
    first = ["Anna", "Bo", "Prof. Ib", "Øjvind", "Åse", "Jens", "Mette"]
    last = ["Holm", "Jensen", "Lund", "Sørensen"]
    make_members(org, [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(120)])
    assert_in_order(org)
    assert unordered_count(org.id) == 0  # one at a time, each between its neighbours
    # Thirty of one name join after them all: each takes the key halfway
    # to the next name's, until no key is left there.
    order_search_index(org.id)
    db.session.commit()
    after = [key for name, _, key in keys(org)]
    assert after == [org.id * ORG_KEYS + (i + 1) * SPACING for i in range(len(after))]
    make_members(org, ["Bo Holm"] * 30, prefix="dup")
    assert_in_order(org)
    assert 0 < unordered_count(org.id) < 30
    # Renamed: a new place; leavers take their entries with them.
    users = db.session.scalars(db.select(User).join(Membership).where(Membership.org_id == org.id)).all()
    for user in rng.sample(users, 20):
        user.rename(name=f"{rng.choice(first)} {rng.choice(last)}x")
    for user in rng.sample(users, 10):
        user.rename(email=f"ny.{user.id}@example.dk")
    gone = [u.id for u in rng.sample(users, 15)]
    db.session.execute(db.delete(Membership).where(Membership.user_id.in_(gone)))
    db.session.commit()
    assert_in_order(org)
    # Numbered anew: every member in the order again.
    assert order_search_index(org.id) == len(keys(org))
    db.session.commit()
    assert_in_order(org)
    assert unordered_count(org.id) == 0


def test_another_organization_has_a_range_of_its_own(org, make_org, make_members):
    other = make_org()
    make_members(org, ["Anna Holm", "Bo Holm"])
    make_members(other, ["Anna Holm", "Cai Holm"], prefix="o")
    assert_in_order(org)
    assert_in_order(other)


def expected(members, q: str, direction: str, page: int) -> list[str]:
    """The page as the table orders it: sorted by name, ascending ranked
    (exact, then prefix matches of name or e-mail, first)."""
    folded = fold(q)
    found = [m for m in members if folded in m.name_folded or folded in m.email]
    if direction == "desc":
        found.sort(key=lambda m: (m.name_folded, m.id), reverse=True)
    else:

        def rank(m):
            if folded in (m.name_folded, m.email):
                return 0
            return 1 if m.name_folded.startswith(folded) or m.email.startswith(folded) else 2

        found.sort(key=lambda m: (rank(m), m.name_folded, m.id))
    return [m.user.name for m in found[(page - 1) * 50 : page * 50]]


def test_a_search_walked_in_name_order_shows_the_rows_of_the_table_order(
    as_admin, admin, org, make_members, monkeypatch
):
    """Matches that stand together far down the name order (every "Prof."
    under P) are found among the index's first entries, with members left
    out of the order merged in, ascending and descending, within a
    department and among those with access: the rows of the table's order, as the name index's walk shows them too, and page 1 of a
    common one found at once, "more than" its last row."""
    rng = random.Random(11)
    names = [f"Bo {i:03d} Lund" for i in range(200)]  # first in name order, no "rof"
    names += [f"Prof. {rng.choice(['Anna', 'Ib', 'Åse'])} {i:03d}" for i in range(90)]
    make_members(org, names)
    make_members(org, ["Prof. Anna 045"] * 25, prefix="dup")  # some left out of the order
    school = make_members(org, [f"Prof. Ib {i:03d} Skov" for i in range(60)], department="Skole", prefix="s")
    assert unordered_count(org.id) > 0
    grant(org, school[::2], admin)
    members = db.session.scalars(db.select(Membership).where(Membership.org_id == org.id)).all()
    searches = [("rof", "asc"), ("rof", "desc"), ("f. a", "asc"), ("bo 1", "desc"), ("prof", "asc"), ("of", "asc")]
    access = {m.id for m in school[::2]}

    def pages():
        found = {
            (q, direction, page): names_in(table(as_admin, org, q=q, dir=direction, page=page))
            for q, direction in searches
            for page in (1, 2)
        }
        # Within a department, and among those with access (the remove view).
        found["skole"] = names_in(table(as_admin, org, q="rof", department="Skole"))
        found["access"] = names_in(table(as_admin, org, view="remove", q="rof"))
        return found

    monkeypatch.setattr(models.counting, "FIRST_WALK", 60)  # none of "rof" among the first 60
    monkeypatch.setattr(models.counting, "FTS_WALKS_FIRST", 100)
    monkeypatch.setattr(models.counting, "FEW_MATCHES", 20)
    monkeypatch.setattr(models.counting, "WALK_ROWS", 250)
    monkeypatch.setattr(models.counting, "WALK_WINDOW", 100)
    # Past what a search counts: foretold fewer, they are counted and sorted.
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 20)
    ordered_walks = []
    walk = models.members.MemberTable._ordered_walk_ids

    def recording(t, limit, offset, test):
        ordered_walks.append(t.filter.q)
        return walk(t, limit, offset, test)

    monkeypatch.setattr(models.members.MemberTable, "_ordered_walk_ids", recording)
    walked = record_pages(monkeypatch)
    in_order = pages()
    without_access = [m for m in members if m.id not in access]
    assert in_order == {
        **{key: expected(without_access, *key) for key in in_order if key not in ("skole", "access")},
        "skole": expected([m for m in without_access if m.department == "Skole"], "rof", "asc", 1),
        "access": expected([m for m in members if m.id in access], "rof", "asc", 1),
    }
    # "prof": every match starts with it, a range of the name index (ranked).
    assert set(ordered_walks) == {q for q, _ in searches} - {"prof"}
    # Page 1 of "rof": one walk, in name order, holds it.
    walked.clear()
    assert pager_line(table(as_admin, org, q="rof")) == "Viser 1–50 af mere end 50"
    assert [(page, walk) for q, page, walk, window in walked] == [(1, True)]
    walk_the_name_index(monkeypatch)
    ordered_walks.clear()
    assert pages() == in_order
    assert ordered_walks == []


def test_the_migration_numbers_every_organization_in_its_order(tmp_path, redis_url):
    """Members from before the ordered index get their keys and entries
    from the migration, each organization in its own range, and a downgrade
    takes the index, its triggers and the column away."""
    from flask_migrate import downgrade, upgrade

    from app import create_app

    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.sqlite'}", REDIS_URL=redis_url)
    with app.app_context():
        upgrade(revision="b7d9f1a3c5e8")
        members = [(1, 1, "åse holm"), (2, 1, "anna holm"), (3, 2, "bo lund"), (4, 1, "anna holm"), (5, 2, "al")]
        with db.engine.begin() as conn:
            for org_id in (1, 2):
                conn.execute(
                    text("INSERT INTO organization (id, name, created_at) VALUES (:o, :n, '2026-01-01')"),
                    {"o": org_id, "n": f"K{org_id}"},
                )
            for i, org_id, name in members:
                conn.execute(
                    text(
                        'INSERT INTO "user" (id, email, name, language, created_at, session_version) '
                        "VALUES (:i, :e, :n, 'da', '2026-01-01', 0)"
                    ),
                    {"i": i, "e": f"u{i}@example.dk", "n": name},
                )
                conn.execute(
                    text(
                        "INSERT INTO membership (id, org_id, user_id, role, department, name_folded, email, joined_at)"
                        " VALUES (:i, :o, :i, 'member', '', :n, :e, '2026-01-01')"
                    ),
                    {"i": i, "o": org_id, "n": name, "e": f"u{i}@example.dk"},
                )
        upgrade()
        found = db.session.execute(text("SELECT id, search_key FROM membership ORDER BY search_key")).all()
        assert [i for i, _ in found] == [2, 4, 1, 5, 3]
        assert [key for _, key in found] == [ORG_KEYS + SPACING, ORG_KEYS + 2 * SPACING, ORG_KEYS + 3 * SPACING] + [
            2 * ORG_KEYS + SPACING,
            2 * ORG_KEYS + 2 * SPACING,
        ]
        assert entries("hol") == {ORG_KEYS + SPACING, ORG_KEYS + 2 * SPACING, ORG_KEYS + 3 * SPACING}
        db.session.rollback()
        downgrade(revision="b7d9f1a3c5e8")
        columns = [row[1] for row in db.session.execute(text("PRAGMA table_info(membership)"))]
        assert "search_key" not in columns
        assert not db.session.scalar(text(f"SELECT count(*) FROM sqlite_master WHERE name LIKE '{ORDERED_TABLE}%'"))
        db.engine.dispose()


def test_housekeeping_numbers_anew_an_organization_with_many_left_out(app, org, make_org, make_members, monkeypatch):
    """Past half UNORDERED_MAX members left out of the order, the worker's
    housekeeping numbers the organization anew, before its searches do
    without the ordered index; one with fewer keeps its keys."""
    from tests.test_housekeeping import housekeeping

    calm = make_org()
    for each in (org, calm):
        make_members(each, ["Anna Holm", "Cai Holm"], prefix=f"o{each.id}")
        order_search_index(each.id)  # SPACING apart: each of 20 more halves the gap to the next
    make_members(calm, ["Bo Holm"] * 25, prefix="calm")
    make_members(org, ["Bo Holm"] * 45, prefix="dup")
    left_out = unordered_count(org.id)
    assert unordered_count(calm.id) == 25 - 20 and left_out == 45 - 20
    monkeypatch.setattr(models.search_order, "UNORDERED_MAX", 2 * left_out - 2)
    calm_keys = keys(calm)
    housekeeping(app)
    assert unordered_count(org.id) == 0
    assert_in_order(org)
    assert keys(calm) == calm_keys
