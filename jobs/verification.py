"""The verification mail: sent to the admin's own CPR, with a one-time code.

The admin's CPR is never stored. The view puts it, with the code, Fernet-
encrypted under a Redis key that expires with the code; the job's arguments
carry only ids. The job deletes the key as soon as the mail is sent or has
failed for good, so nothing of the CPR is left in Redis after the job has run.
"""
import json
import logging
import uuid

from flask import current_app
from flask_babel import force_locale, gettext as _
from redis.exceptions import RedisError
from rq import Retry, get_current_job

from crypto import decrypt, encrypt
from digitalpost import DigitalPostClient, Message, PermanentError, TransientError
from extensions import db
from jobs.connection import get_queue, get_redis
from models.integration import CODE_VALID_FOR, DigitalPostIntegration, Sending, record_sending
from models.org import User

log = logging.getLogger(__name__)
MESSAGE_NAMESPACE = uuid.UUID("6f1b0b4e-5f55-4c41-9d4e-0d6f0b6b7a10")


def _secret_key(attempt_id: str) -> str:
    return f"postbud:verification:{attempt_id}"


def enqueue_verification_mail(integration: DigitalPostIntegration, cpr: str, code: str) -> None:
    """Hand the CPR and code to the mail job (encrypted, expiring) and enqueue it.

    Call after the attempt is committed, so the job finds it. Raises a Redis
    error when the queue is unreachable; the caller reports it.
    """
    redis = get_redis()
    redis.set(_secret_key(integration.attempt_id), encrypt(json.dumps({"cpr": cpr, "code": code})),
              ex=int(CODE_VALID_FOR.total_seconds()))
    intervals = current_app.config["VERIFICATION_RETRY_INTERVALS"]
    try:
        get_queue().enqueue(
            send_verification_mail, integration.id, integration.attempt_id,
            job_id=f"verification-{integration.attempt_id}",
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            result_ttl=3600, failure_ttl=7 * 24 * 3600,
            description="verification mail",
        )
    except RedisError:
        try:  # no job will come for the sealed CPR: do not leave it for its TTL
            redis.delete(_secret_key(integration.attempt_id))
        except RedisError:
            pass
        raise


def send_verification_mail(integration_id: int, attempt_id: str) -> str:
    redis = get_redis()
    integration = db.session.get(DigitalPostIntegration, integration_id)
    if integration is None or integration.attempt_id != attempt_id:
        redis.delete(_secret_key(attempt_id))
        return "superseded"
    sealed = redis.get(_secret_key(attempt_id))
    if sealed is None:
        record_sending(integration_id, attempt_id, Sending.FAILED, "expired")
        return "expired"
    secret = json.loads(decrypt(sealed.decode()))
    message = verification_message(integration, secret["cpr"], secret["code"])
    failure = None
    try:
        with DigitalPostClient(current_app.config["DIGITAL_POST_API_URL"], integration.pending_api_key) as client:
            client.send(message)
    except TransientError as exc:
        job = get_current_job()
        if job is not None and job.retries_left:  # rq retries; the sealed CPR stays for it
            log.warning("verification mail for integration %s: %s; will retry", integration_id, exc.code)
            raise
        failure = "unavailable"
    except PermanentError as exc:
        failure = exc.code
    # Sent or failed for good: the CPR is not needed any more.
    redis.delete(_secret_key(attempt_id))
    record_sending(integration_id, attempt_id, Sending.FAILED if failure else Sending.SENT, failure)
    log.log(logging.WARNING if failure else logging.INFO,
            "verification mail for integration %s: %s", integration_id, failure or "sent")
    return failure or "sent"


def verification_message(integration: DigitalPostIntegration, cpr: str, code: str) -> Message:
    """The same message on every retry: its messageUUID and time derive from the attempt."""
    admin = db.session.get(User, integration.pending_started_by_id) if integration.pending_started_by_id else None
    language = admin.language if admin and admin.language in ("da", "en") else "da"
    org_name = integration.organization.name
    with force_locale(language):
        subject = _("Confirm the connection to Digital Post")
        body = _(
            "%(org)s is connecting Postbud to Digital Post, so that the organization can send "
            "survey invitations through Digital Post.\n\n"
            "Your confirmation code: %(code)s\n\n"
            "Enter the code in Postbud to confirm the connection. The code is valid for 30 minutes.\n\n"
            "If you did not start this yourself, you can ignore this message.",
            org=org_name, code=code,
        )
    return Message(
        message_uuid=str(uuid.uuid5(MESSAGE_NAMESPACE, integration.attempt_id)),
        subject=subject,
        sender_cvr=integration.pending_sender_cvr,
        sender_name=org_name,
        recipient_cpr=cpr,
        body=body,
        language=language,
        created_at=integration.pending_started_at.replace(microsecond=0),
    )
