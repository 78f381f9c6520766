"""The verification mail: sent to the admin's own CPR, with a one-time code.

The admin's CPR is never stored. The view puts it, with the code, Fernet-
encrypted under a Redis key that expires with the code; the job's arguments
carry only ids. The sealed CPR is deleted as soon as the mail is sent or has
failed for good, whatever ends the job: its own outcome, or rq's failure
callback when it raised, timed out or its worker died.
"""

import logging
import uuid

from rq import get_current_job
from rq.exceptions import AbandonedJobError

from digitalpost import DuplicateMessage, Message, NoAnswer, PermanentError, TransientError, memo_uuid
from extensions import db
from jobs import sealed
from jobs.gateway import transport_for
from models.integration import (
    CODE_VALID_FOR,
    CODE_VALID_MINUTES,
    DigitalPostIntegration,
    MailFailure,
    Sending,
    record_sending,
)
from models.org import User
from models.sharing.letters import verification_letter

log = logging.getLogger(__name__)
MESSAGE_NAMESPACE = uuid.UUID("6f1b0b4e-5f55-4c41-9d4e-0d6f0b6b7a10")
SEALED = "verification"


def enqueue_verification_mail(integration: DigitalPostIntegration, cpr: str, code: str) -> None:
    """Hand the CPR and code to the mail job (encrypted, expiring) and enqueue it.

    Call after the attempt is committed, so the job finds it. Raises a Redis
    error when the queue is unreachable; the caller reports it.
    """
    sealed.enqueue_sealed(
        SEALED,
        integration.attempt_id,
        {"cpr": cpr, "code": code},
        int(CODE_VALID_FOR.total_seconds()),
        send_verification_mail,
        integration.id,
        integration.attempt_id,
        on_failure=mail_job_failed,
        job_id=f"verification-{integration.attempt_id}",
        failure_ttl=7 * 24 * 3600,
        description="verification mail",
    )


def forget_sealed(attempt_id: str) -> None:
    sealed.forget(SEALED, attempt_id)  # or it expires with the code


def send_verification_mail(integration_id: int, attempt_id: str) -> str:
    integration = db.session.get(DigitalPostIntegration, integration_id)
    if integration is None or integration.attempt_id != attempt_id or not integration.mail_on_its_way:
        # Replaced by a newer attempt, or already given an outcome (a retry
        # after a failure callback, or the status page's deadline).
        forget_sealed(attempt_id)
        return "superseded"
    secret = sealed.unseal(SEALED, attempt_id)
    if secret is None:
        record_sending(integration_id, attempt_id, Sending.FAILED, MailFailure.EXPIRED)
        db.session.commit()
        return MailFailure.EXPIRED
    message = verification_message(integration, secret["cpr"], secret["code"])
    failure = None
    try:
        with transport_for(integration, pending=True) as client:
            client.send(message)
    except DuplicateMessage:
        pass  # a retry after no answer: the first try reached Digital Post
    except TransientError as exc:
        job = get_current_job()
        if job is not None and job.retries_left:  # rq retries; the sealed CPR stays for it
            log.warning("verification mail for integration %s: %s; will retry", integration_id, exc.code)
            raise
        failure = MailFailure.NO_ANSWER if isinstance(exc, NoAnswer) else MailFailure.UNAVAILABLE
    except PermanentError as exc:
        failure = MailFailure.of_gateway(exc.code)
    # Sent or failed for good: the CPR is not needed any more.
    forget_sealed(attempt_id)
    record_sending(integration_id, attempt_id, Sending.FAILED if failure else Sending.SENT, failure)
    db.session.commit()
    log.log(
        logging.WARNING if failure else logging.INFO,
        "verification mail for integration %s: %s",
        integration_id,
        failure or "sent",
    )
    return failure or "sent"


def mail_job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """rq's failure callback: whatever the job raised, or if its worker died,
    the attempt gets a final outcome, the sealed CPR goes, and the wizard
    stops waiting. A try that rq will repeat is left to the repeat."""
    will_retry = bool(job.retries_left) and issubclass(exc_type, (TransientError, AbandonedJobError))
    if will_retry:
        return
    integration_id, attempt_id = job.args
    failure = MailFailure.INTERRUPTED if issubclass(exc_type, AbandonedJobError) else MailFailure.ERROR
    forget_sealed(attempt_id)
    try:
        db.session.rollback()
        record_sending(integration_id, attempt_id, Sending.FAILED, failure)
        db.session.commit()
    except Exception:
        log.exception("could not record the failure of the verification mail of integration %s", integration_id)
    log.error("verification mail for integration %s: %s (%s)", integration_id, failure, exc_type.__name__)


def verification_message(integration: DigitalPostIntegration, cpr: str, code: str) -> Message:
    """The same message on every retry: its messageUUID and time derive from the attempt."""
    admin = db.session.get(User, integration.pending_started_by_id) if integration.pending_started_by_id else None
    language = admin.language if admin and admin.language in ("da", "en") else "da"
    letter = verification_letter(integration.organization.name, code, CODE_VALID_MINUTES, language)
    return letter.message(
        message_uuid=memo_uuid(MESSAGE_NAMESPACE, integration.attempt_id),
        sender_cvr=integration.pending_sender_cvr,
        recipient_cpr=cpr,
        created_at=integration.pending_started_at,
    )
