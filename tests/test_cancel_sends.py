"""cancel_scheduled_sends: the one function that revoke and deactivate share."""
from datetime import timedelta

from rq import Queue

from jobs.connection import get_queue
from models import ScheduledSend, SendState, Share, Survey, db
from models.base import utcnow
from models.sharing import cancel_scheduled_sends


def make_send(org, membership, state=SendState.SCHEDULED, with_job=True):
    survey = Survey(org_id=org.id, owner_id=membership.user_id, title="x")
    db.session.add(survey)
    db.session.flush()
    share = Share(org_id=org.id, survey_id=survey.id, membership_id=membership.id)
    db.session.add(share)
    db.session.flush()
    job = get_queue().enqueue_in(timedelta(hours=1), print, "send") if with_job else None
    send = ScheduledSend(org_id=org.id, share_id=share.id, membership_id=membership.id, state=state,
                         send_at=utcnow() + timedelta(hours=1), rq_job_id=job.id if job else None)
    db.session.add(send)
    db.session.commit()
    return send, job


def scheduled_ids():
    queue = get_queue()
    return set(Queue(queue.name, connection=queue.connection).scheduled_job_registry.get_job_ids())


def test_cancels_only_scheduled_sends_of_the_given_members(org, make_members):
    a, b = make_members(org, ["A", "B"])
    send_a, job_a = make_send(org, a)
    send_b, job_b = make_send(org, b)
    done, _ = make_send(org, a, state=SendState.DONE, with_job=False)
    n = cancel_scheduled_sends(org.id, "access_revoked", membership_ids=[a.id])
    db.session.commit()
    assert n == 1
    db.session.expire_all()
    assert (send_a.state, send_a.cancel_reason) == (SendState.CANCELLED, "access_revoked")
    assert send_b.state == SendState.SCHEDULED and done.state == SendState.DONE
    assert job_a.id not in scheduled_ids() and job_b.id in scheduled_ids()


def test_jobs_stay_queued_when_the_transaction_rolls_back(org, make_members):
    (a,) = make_members(org, ["A"])
    send, job = make_send(org, a)
    cancel_scheduled_sends(org.id, "integration_deactivated")
    db.session.rollback()
    db.session.expire_all()
    assert send.state == SendState.SCHEDULED and job.id in scheduled_ids()


def test_other_organizations_are_untouched(org, make_org, make_members):
    (a,) = make_members(org, ["A"])
    (x,) = make_members(make_org("Andet"), ["X"], prefix="x")
    _, job = make_send(org, a)
    theirs, their_job = make_send(x.organization, x)
    assert cancel_scheduled_sends(org.id, "integration_deactivated") == 1
    db.session.commit()
    db.session.expire_all()
    assert theirs.state == SendState.SCHEDULED and their_job.id in scheduled_ids()
