"""The reach check: the registration lookup of a draft's recipients, in
batches and throttled (PostForespoerg on SF1601, the provider API's lookup
otherwise). Each batch is recorded before the next is asked, so the summary
updates as it goes and a job that runs again, or after a crash, goes on
with those not yet looked up.
"""

import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Callback, Retry
from rq.job import Job

from crypto import decrypt
from digitalpost import PermanentError, TransientError
from extensions import db, get_queue, get_redis, redis_key
from jobs.gateway import transport_for
from jobs.throttle import Pace
from models import DigitalPostIntegration
from models.reach import finish_reach_check, record_registrations, unchecked_batch
from models.sharing import ReachState, SendError, Share

log = logging.getLogger(__name__)
BATCH = 100
JOB_TIMEOUT = 3 * 3600


def reach_job_id(share_id: int) -> str:
    return f"reach-{share_id}"


def reach_job_alive(share_id: int) -> bool:
    """Whether the lookup job is still in Redis; when Redis cannot say, yes
    (nothing is started twice)."""
    try:
        return Job.exists(get_queue().job_id(reach_job_id(share_id)), connection=get_redis())
    except RedisError:
        return True


def enqueue_reach_check(share: Share) -> None:
    """Call after start_reach_check() is committed. Raises a Redis error
    when the queue cannot be reached."""
    get_queue().enqueue(
        check_reach,
        share.id,
        job_id=reach_job_id(share.id),
        job_timeout=JOB_TIMEOUT,
        retry=Retry(max=3, interval=[5, 30, 120]),
        on_failure=Callback(reach_job_failed),
        result_ttl=3600,
        failure_ttl=24 * 3600,
        description=f"reach check of share {share.id}",
    )


def check_reach(share_id: int) -> str:
    share = db.session.get(Share, share_id)
    if share is None or not share.is_draft or share.reach_state != ReachState.CHECKING:
        return "nothing to do"
    integration = DigitalPostIntegration.find(share.org_id)
    if integration is None or not integration.is_active:
        finish_reach_check(share_id, ReachState.FAILED, "integration_off")
        db.session.commit()
        return "not checked: Digital Post is not enabled"
    # Shared by every job looking up for the organization at the same time.
    pace = Pace(get_redis(), redis_key("pace", "lookups", share.org_id), current_app.config["REACH_LOOKUPS_PER_SECOND"])
    looked_up, last_id = 0, 0
    with transport_for(integration) as transport:
        while True:
            batch = unchecked_batch(share_id, last_id, BATCH)
            if not batch:
                break
            found = []
            try:
                for recipient_id, cpr_encrypted in batch:
                    pace.wait()
                    found.append((recipient_id, transport.registration(decrypt(cpr_encrypted))))
            except TransientError:
                record_registrations(share_id, found)
                db.session.commit()
                raise  # rq retries; the next try goes on from here
            except PermanentError as exc:
                record_registrations(share_id, found)
                finish_reach_check(share_id, ReachState.FAILED, exc.code)
                db.session.commit()
                return f"failed: {exc.code}"
            record_registrations(share_id, found)
            db.session.commit()
            looked_up += len(found)
            last_id = batch[-1][0]
    finish_reach_check(share_id, ReachState.DONE)
    db.session.commit()
    log.info("reach check of share %s: %d looked up", share_id, looked_up)
    return f"looked up {looked_up}"


def reach_job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """Whatever ended the job for good, the summary stops waiting."""
    if job.retries_left and issubclass(exc_type, TransientError):
        return
    (share_id,) = job.args
    code = getattr(exc_value, "code", None) or SendError.INTERNAL_ERROR
    try:
        db.session.rollback()
        finish_reach_check(share_id, ReachState.FAILED, str(code))
        db.session.commit()
    except Exception:
        log.exception("could not record the end of the reach check of share %s", share_id)
