"""PostgreSQL's member search in name order (models.search_order): its
ranges cover each organization's order of (name_folded, id) and hold their
members' substrings, or the member is pending, through joins, renames and
leavers; folding and cutting keep it so; and a search walked off the ranges
shows the rows the table's order asks for."""

import random

import pytest
from sqlalchemy import text

import models.counting
import models.members
import models.search_order
from extensions import db
from jobs.housekeeping import order_member_search
from models import Membership, User
from models.search_order import (
    BUCKET_TABLE,
    PENDING_TABLE,
    cut_search_buckets,
    fold_pending,
    member_grams,
    pending_count,
)
from tests.test_access import names_in, table
from tests.test_search_order import expected

pytestmark = pytest.mark.usefixtures("active_integration")

FIRST = ["Anna", "Bo", "Prof. Ib", "Øjvind", "Åse", "Jens", "Mette", "André"]
LAST = ["Holm", "Jensen", "Lund", "Sørensen", "Hansen-Knudsen"]


@pytest.fixture(autouse=True)
def _postgresql_only(app, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite orders its search index by keys (tests/test_search_order.py)")
    # Small ranges, asked for one at a time at first: a few members make many.
    monkeypatch.setattr(models.search_order, "BUCKET_MEMBERS", 8)
    monkeypatch.setattr(models.search_order, "CUT_CHUNK", 3)
    monkeypatch.setattr(models.counting, "FIRST_RANGES", 1)


def ranges(org) -> list[tuple]:
    return db.session.execute(
        text(
            f"SELECT first_name, first_id, next_name, next_id, grams FROM {BUCKET_TABLE}"
            ' WHERE org_id = :org ORDER BY first_name COLLATE "C", first_id'
        ),
        {"org": org.id},
    ).all()


def assert_covered(org) -> None:
    """The ranges follow one another from the empty name to past any, and
    each member not pending stands in a range holding its substrings."""
    found = ranges(org)
    assert found and (found[0][0], found[0][1]) == ("", 0)
    for before, after in zip(found, found[1:]):
        assert (before[2], before[3]) == (after[0], after[1])
    assert found[-1][2] is None
    pending = set(
        db.session.scalars(text(f"SELECT membership_id FROM {PENDING_TABLE} WHERE org_id = :org"), {"org": org.id})
    )
    members = db.session.execute(
        text("SELECT id, name_folded, email FROM membership WHERE org_id = :org"), {"org": org.id}
    ).all()
    for member_id, name, email in members:
        if member_id in pending:
            continue
        holding = [
            r for r in found if (r[0], r[1]) <= (name, member_id) and (r[2] is None or (name, member_id) < (r[2], r[3]))
        ]
        assert len(holding) == 1, (name, member_id)
        assert member_grams(name, email) <= set(holding[0][4]), (name, member_id)


def test_joins_renames_and_leavers_are_pending_until_folded_and_grown_ranges_are_cut(org, make_members):
    rng = random.Random(11)
    already = pending_count(org.id)  # the organization's admin
    make_members(org, [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(63 - already)])
    assert pending_count(org.id) == 63  # no ranges yet: every member pending
    assert cut_search_buckets(org.id) == 63
    db.session.commit()
    assert pending_count(org.id) == 0
    assert len(ranges(org)) == 8  # 63 members, 8 a range
    assert_covered(org)
    # Thirty of one name join: pending, then folded into one range, which
    # grows past twice its size and is cut again.
    make_members(org, ["Bo Holm"] * 30, prefix="dup")
    assert pending_count(org.id) == 30
    assert_covered(org)
    fold_pending(org.id)
    db.session.commit()
    assert pending_count(org.id) == 0
    assert_covered(org)
    assert len(ranges(org)) > 8
    # Renamed, new e-mails, leavers: pending, folded again.
    users = db.session.scalars(db.select(User).join(Membership).where(Membership.org_id == org.id)).all()
    for user in rng.sample(users, 12):
        user.rename(name=f"{rng.choice(FIRST)} {rng.choice(LAST)}x")
    for user in rng.sample(users, 6):
        user.rename(email=f"ny.{user.id}@example.dk")
    gone = [u.id for u in rng.sample(users, 10)]
    db.session.execute(db.delete(Membership).where(Membership.user_id.in_(gone)))
    db.session.commit()
    assert 0 < pending_count(org.id) <= 18
    assert_covered(org)
    assert order_member_search() >= 0  # the housekeeping folds them
    assert pending_count(org.id) == 0
    assert_covered(org)


def test_a_search_walked_off_the_ranges_shows_the_rows_of_the_tables_order(
    as_admin, org, make_org, make_members, monkeypatch
):
    rng = random.Random(5)
    names = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(170)]
    make_members(org, names + [f"Prof. Ib {rng.choice(LAST)}" for _ in range(90)])
    make_members(make_org(), ["Prof. Ib Holm"] * 20, prefix="other")  # another organization's ranges
    cut_search_buckets(org.id)
    db.session.commit()
    # Pending beside the ranges: among the first of their searches' pages,
    # in ranges that hold no "rof" (only the pending list finds them), and
    # last in the order.
    make_members(org, ["Prof. Ib Aagaard", "Jens Aagaard"] * 3 + ["Anna Grofsen", "Øjvind Grof"], prefix="late")
    walks = []
    walk = models.members.MemberTable._ranges_walk_ids

    def recording(self, limit, offset, test):
        walks.append(self.filter.q)
        return walk(self, limit, offset, test)

    monkeypatch.setattr(models.members.MemberTable, "_ranges_walk_ids", recording)
    # Every search is walked in name order, and the first walk's window is
    # a few members: the ranges walk finds the page, or all there are.
    monkeypatch.setattr(models.counting, "FIRST_WALK", 20)
    members = db.session.scalars(db.select(Membership).where(Membership.org_id == org.id)).all()
    for q in ("rof", "prof. ib", "ck", "é", "hansen-", "jens", "lund", "ø", "zz", "sen-k"):
        for page in (1, 2) if len(expected(members, q, "asc", 2)) else (1,):  # past the end: the last page
            assert names_in(table(as_admin, org, q=q, page=page)) == expected(members, q, "asc", page), (q, page)
    assert set(walks) >= {"rof", "ck", "hansen-"}
    first = names_in(table(as_admin, org, q="rof"))
    assert first[:2] == ["Anna Grofsen", "Prof. Ib Aagaard"] and "Øjvind Grof" not in first
