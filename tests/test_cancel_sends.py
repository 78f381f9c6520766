"""cancel_scheduled_sends: the one function that revoke and deactivate share."""

from conftest import scheduled_job_ids
from models import SendState, db
from models.sharing.lifecycle import cancel_scheduled_sends


def test_cancels_only_scheduled_sends_of_the_given_members(org, make_members, make_scheduled_send):
    a, b = make_members(org, ["A", "B"])
    send_a, job_a = make_scheduled_send(org, a)
    send_b, job_b = make_scheduled_send(org, b)
    done, _ = make_scheduled_send(org, a, state=SendState.DONE, with_job=False)
    n = cancel_scheduled_sends(org.id, "access_revoked", membership_ids=[a.id])
    db.session.commit()
    assert n == 1
    db.session.expire_all()
    assert (send_a.state, send_a.cancel_reason) == (SendState.CANCELLED, "access_revoked")
    assert send_b.state == SendState.SCHEDULED and done.state == SendState.DONE
    assert job_a.id not in scheduled_job_ids() and job_b.id in scheduled_job_ids()


def test_jobs_stay_queued_when_the_transaction_rolls_back(org, make_members, make_scheduled_send):
    (a,) = make_members(org, ["A"])
    send, job = make_scheduled_send(org, a)
    cancel_scheduled_sends(org.id, "integration_deactivated")
    db.session.rollback()
    db.session.expire_all()
    assert send.state == SendState.SCHEDULED and job.id in scheduled_job_ids()


def test_other_organizations_are_untouched(org, make_org, make_members, make_scheduled_send):
    (a,) = make_members(org, ["A"])
    (x,) = make_members(make_org("Andet"), ["X"], prefix="x")
    make_scheduled_send(org, a)
    theirs, their_job = make_scheduled_send(x.organization, x)
    assert cancel_scheduled_sends(org.id, "integration_deactivated") == 1
    db.session.commit()
    db.session.expire_all()
    assert theirs.state == SendState.SCHEDULED and their_job.id in scheduled_job_ids()
