"""Issue 22, items 10 and 11: a citizen gets at most the organization's
number of survey letters in a period, whoever sends them, and can say "no
surveys from this organization" (and take it back). Both are kept by the
HMAC of the CPR number, counted in the summary, and enforced by the worker
for every chunk."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from models import CitizenContact, CitizenOptOut, Recipient, db
from models.base import utcnow
from models.contacts import expire_contacts
from tests.test_sharing import compose, confirm, share_of, survey, with_access  # noqa: F401  (fixtures)

ANNE, BO = "0101901234", "0202901234"
BOTH = f"fornavn;cpr\nAnne;{ANNE}\nBo;{BO}\n"


def send(as_member, survey, text, run_jobs=None):
    draft, schedule = compose(as_member, survey, text)
    summary = as_member.post(draft + "/schedule", schedule, htmx=True).get_data(as_text=True)
    confirm(as_member, draft, schedule)
    if run_jobs:
        run_jobs()
    return draft, summary


def stored_values() -> str:
    rows = (
        db.session.execute(select(CitizenOptOut.cpr_hmac)).all()
        + db.session.execute(select(CitizenContact.cpr_hmac)).all()
    )
    return " ".join(r[0] for r in rows)


def test_no_surveys_from_the_organization_holds_for_later_shares_and_can_be_taken_back(
    as_member, survey, with_access, sandbox, run_jobs, client, admin
):
    from models.policy import set_policy

    set_policy(survey.org_id, admin.id, cap_invitations=10, cap_letters=20)  # only the "no" counts here
    db.session.commit()
    send(as_member, survey, BOTH, run_jobs)
    link = sandbox.mailbox(ANNE)[0]["actions"][0]["url"]
    page = client.get(link + "/decline").get_data(as_text=True)
    assert "Jeg ønsker ingen spørgeskemaer fra Testkommune" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    said = client.post(link + "/decline", data={"csrf_token": csrf, "org_wide": "yes"}).get_data(as_text=True)
    assert "ikke ønsker spørgeskemaer fra Testkommune" in said
    assert db.session.scalar(select(func.count()).select_from(CitizenOptOut)) == 1
    assert ANNE not in stored_values() and "010190" not in stored_values()

    draft, summary = send(as_member, survey, BOTH, run_jobs)
    assert "1 modtager ønsker ingen spørgeskemaer fra organisationen og udelades" in summary
    assert [len(sandbox.mailbox(c)) for c in (ANNE, BO)] == [1, 2]
    db.session.expire_all()
    states = dict(
        db.session.execute(
            select(Recipient.first_name, Recipient.state).where(Recipient.share_id == share_of(draft).id)
        ).all()
    )
    assert states["Anne"] == "left_out" and states["Bo"] != "left_out"
    status = as_member.get(draft + "/").get_data(as_text=True)
    assert "Udeladt" in status and "ønsker ingen spørgeskemaer fra organisationen" in status

    # Taken back through the same link: the next share reaches her again.
    page = client.get(link + "/decline").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    back = client.post(link + "/org-wide/withdraw", data={"csrf_token": csrf}).get_data(as_text=True)
    assert "kan igen sende dig spørgeskemaer" in back
    send(as_member, survey, BOTH, run_jobs)
    assert [len(sandbox.mailbox(c)) for c in (ANNE, BO)] == [2, 3]


def test_the_contact_cap_counts_every_share_and_is_enforced_when_sending(
    as_member, survey, with_access, sandbox, run_jobs
):
    """The default: two invitations in 30 days. Three shares confirmed before
    any is sent: the summary cannot know yet, and the worker leaves the third
    out when its chunk comes."""
    drafts = [send(as_member, survey, BOTH)[0] for _ in range(3)]
    run_jobs()
    assert [len(sandbox.mailbox(c)) for c in (ANNE, BO)] == [2, 2]
    db.session.expire_all()
    third = share_of(drafts[2])
    assert {r.state for r in db.session.scalars(select(Recipient).where(Recipient.share_id == third.id))} == {
        "left_out"
    }
    assert {r.error for r in db.session.scalars(select(Recipient).where(Recipient.share_id == third.id))} == {
        "contact_cap"
    }
    assert db.session.scalar(select(func.count()).select_from(CitizenContact)) == 4
    assert ANNE not in stored_values()

    # A fourth share's summary says so before it is sent.
    _, summary = send(as_member, survey, BOTH)
    assert "2 modtagere har fået så mange spørgeskemabreve, som organisationen tillader på 30 dage" in summary

    # Entries older than the period expire.
    db.session.execute(db.update(CitizenContact).values(sent_at=utcnow() - timedelta(days=31)))
    db.session.commit()
    assert expire_contacts() == 4
    assert db.session.scalar(select(func.count()).select_from(CitizenContact)) == 0
