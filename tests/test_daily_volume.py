"""Issue 22, item 9: a share that would pass the member's or the
organization's daily volume waits for an admin's approval, nothing is sent
before, and approving or not is in the audit log."""

import re

from sqlalchemy import select

from models import AuditEvent, ScheduledSend, db
from models.policy import set_policy
from tests.test_sharing import compose, confirm, share_of, survey, with_access  # noqa: F401  (fixtures)

THREE = "fornavn;cpr\nAnne;0101901234\nBo;0202901234\nCarl;0303901234\n"
TWO = "fornavn;cpr\nDorte;0404901234\nEmil;0505901234\n"


def admin_session(app, admin):
    from conftest import Session

    s = Session(app.test_client())
    s.login(admin)
    return s


def actions() -> list[str]:
    return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_over_the_daily_volume_a_share_waits_for_approval(
    as_member, admin, survey, with_access, sandbox, run_jobs, app, org
):
    set_policy(org.id, admin.id, daily_per_member=4, daily_per_org=100)
    db.session.commit()
    first, schedule = compose(as_member, survey, THREE)
    confirm(as_member, first, schedule)
    second, schedule = compose(as_member, survey, TWO)
    confirm(as_member, second, schedule)  # 3 + 2 > 4
    run_jobs()
    assert [len(sandbox.mailbox(c)) for c in ("0101901234", "0404901234")] == [1, 0]
    assert {r.state for r in share_of(second).rounds} == {"held"}
    status = as_member.get(second + "/").get_data(as_text=True)
    assert "venter, til en administrator godkender den" in status
    assert "share.held" in actions()

    as_admin = admin_session(app, admin)
    page = as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert "Venter på godkendelse" in page and "Trivsel 2026" in page
    approve = re.search(r'hx-post="([^"]+/approve)"', page).group(1)
    done = as_admin.post(approve, htmx=True)
    assert done.status_code == 200 and "Godkendt" in done.get_data(as_text=True)
    assert as_admin.post(approve, htmx=True).status_code == 200  # a double click approves once
    run_jobs()
    assert len(sandbox.mailbox("0404901234")) == 1
    assert actions().count("share.approved") == 1


def test_an_admin_may_say_no_and_the_share_is_cancelled(as_member, admin, survey, with_access, app, org, sandbox):
    set_policy(org.id, admin.id, daily_per_member=100, daily_per_org=2)  # the organization's day: 2
    db.session.commit()
    draft, schedule = compose(as_member, survey, THREE)
    confirm(as_member, draft, schedule)
    as_admin = admin_session(app, admin)
    page = as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    reject = re.search(r'hx-post="([^"]+/reject)"', page).group(1)
    assert "ikke godkendt" in as_admin.post(reject, htmx=True).get_data(as_text=True).lower()
    db.session.expire_all()
    assert {(r.state, r.cancel_reason) for r in share_of(draft).rounds} == {("cancelled", "not_approved")}
    assert "share.rejected" in actions()
    assert share_of(draft).cprs_deleted_at is not None
    # Members cannot approve.
    assert as_member.post(reject, htmx=True).status_code == 403


def test_under_the_volume_nothing_waits(as_member, survey, with_access):
    draft, schedule = compose(as_member, survey, THREE)
    confirm(as_member, draft, schedule)
    assert {r.state for r in db.session.scalars(select(ScheduledSend))} == {"scheduled"}
