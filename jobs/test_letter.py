"""The test letter job: the share's letter to the member's own Digital Post.

The CPR comes sealed in Redis (jobs/sealed.py) and is deleted when the job
ends, whatever ends it: its own outcome, or rq's failure callback. A repeat
of the job sends the same messageUUID, so the gateway answers it as a replay.
"""

import logging

from rq import get_current_job
from rq.exceptions import AbandonedJobError

from digitalpost import DuplicateMessage, PermanentError, TransientError
from extensions import db
from jobs import sealed
from jobs.gateway import transport_for
from models import DigitalPostIntegration
from models.access import has_access_id
from models.sharing import CancelReason, SendError
from models.test_letters import EXPIRED, TestLetter, TestLetterState, finish_test_letter, letter_for

log = logging.getLogger(__name__)
SEALED = "test-letter"
SEALED_FOR = 3600  # seconds the CPR may wait for a worker


def enqueue_test_letter(row: TestLetter, cpr: str) -> None:
    """Call after the row is committed. Raises a Redis error when the queue
    cannot be reached; nothing of the CPR is kept then."""
    sealed.enqueue_sealed(
        SEALED,
        row.id,
        {"cpr": cpr},
        SEALED_FOR,
        send_test_letter,
        row.id,
        on_failure=letter_job_failed,
        job_id=f"test-letter-{row.id}",
        failure_ttl=24 * 3600,
        description="test letter",
    )


def send_test_letter(test_id: int) -> str:
    row = db.session.get(TestLetter, test_id)
    if row is None or row.state != TestLetterState.SENDING:
        sealed.forget(SEALED, test_id)
        return "nothing to do"
    secret = sealed.unseal(SEALED, test_id)
    if secret is None:
        return _finish(test_id, EXPIRED)
    integration = DigitalPostIntegration.find(row.org_id)
    if integration is None or not integration.is_active:
        return _finish(test_id, CancelReason.INTEGRATION_OFF)
    if row.membership_id is None or not has_access_id(row.org_id, row.membership_id):
        return _finish(test_id, CancelReason.NO_ACCESS)
    message = letter_for(row).message(
        message_uuid=row.message_uuid,
        sender_cvr=integration.sender_cvr,
        recipient_cpr=secret["cpr"],
        created_at=row.created_at,
    )
    failure = None
    try:
        with transport_for(integration) as client:
            client.send(message)
    except DuplicateMessage:
        pass  # this messageUUID reached the gateway before: it was sent
    except TransientError as exc:
        job = get_current_job()
        if job is not None and job.retries_left:  # rq tries again; the sealed CPR stays for it
            log.warning("test letter %s: %s; will retry", test_id, exc.code)
            raise
        failure = exc.code
    except PermanentError as exc:
        failure = exc.code
    return _finish(test_id, failure)


def _finish(test_id: int, failure: str | None) -> str:
    sealed.forget(SEALED, test_id)
    finish_test_letter(test_id, TestLetterState.FAILED if failure else TestLetterState.SENT, failure)
    db.session.commit()
    log.log(logging.WARNING if failure else logging.INFO, "test letter %s: %s", test_id, failure or "sent")
    return failure or "sent"


def letter_job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """rq's failure callback: whatever the job raised, or if its worker died,
    the test letter gets its outcome and the sealed CPR goes."""
    if job.retries_left and issubclass(exc_type, (TransientError, AbandonedJobError)):
        return  # rq tries again
    (test_id,) = job.args
    try:
        db.session.rollback()
        _finish(test_id, SendError.INTERNAL_ERROR)
    except Exception:
        sealed.forget(SEALED, test_id)
        log.exception("could not record the failure of test letter %s", test_id)
