"""The organization's connection to Digital Post, and its verification.

State is what is in force: `disabled` → `pending_verification` (first setup,
mail on its way or code awaited) → `active` → `disabled`. A change of
settings while active is a *pending attempt* next to the active settings; the
old settings stay in force until the new ones are confirmed.

The organization reaches Digital Post by one transport
(digitalpost/transport.py): a provider's API with an API key, or
Serviceplatformen (SF1601) with an OCES3 certificate and an environment. Key
and certificate are kept encrypted; of a certificate only its subject, serial
and expiry are shown.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crypto import decrypt, encrypt, keyed_hash
from digitalpost.certificates import EXPIRY_WARNING, Certificate, load_bundle
from digitalpost.transport import TransportKind
from extensions import db
from models.audit import AuditAction, record_audit
from models.base import UTCDateTime, utcnow
from models.sharing import CancelReason
from models.sharing.lifecycle import cancel_scheduled_sends

CODE_VALID_FOR = timedelta(minutes=30)
CODE_VALID_MINUTES = int(CODE_VALID_FOR.total_seconds() // 60)  # as the mail and the hint say it
MAX_CODE_ATTEMPTS = 5


class State(StrEnum):
    DISABLED = "disabled"
    PENDING = "pending_verification"
    ACTIVE = "active"


class Sending(StrEnum):
    """Where the verification mail of the pending attempt is."""

    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class MailFailure(StrEnum):
    """Why the verification mail failed (sending_error). The gateway's own
    refusals carry its error codes."""

    INVALID_API_KEY = "invalid_api_key"
    CERTIFICATE_REFUSED = "certificate_refused"
    SENDER_NOT_AUTHORIZED = "sender_not_authorized"
    RECIPIENT_EXEMPT = "recipient_exempt"
    RECIPIENT_NOT_FOUND = "recipient_not_found"
    UNAVAILABLE = "unavailable"  # 503s and refused connections until the retries ran out
    NO_ANSWER = "no_answer"  # the gateway did not answer in time: the mail may have arrived
    INTERRUPTED = "interrupted"  # the worker died during the job
    STALLED = "stalled"  # still not sent at the deadline: no worker took the job
    ERROR = "error"  # the job failed in an unforeseen way
    QUEUE_UNAVAILABLE = "queue_unavailable"
    EXPIRED = "expired"

    @classmethod
    def of_gateway(cls, code: str) -> "MailFailure":
        try:
            return cls(code)
        except ValueError:
            return cls.ERROR

    @property
    def maybe_sent(self) -> bool:
        """The mail may be in the admin's mailbox all the same, so the code
        form stays open while the code is valid."""
        return self in (MailFailure.NO_ANSWER, MailFailure.INTERRUPTED, MailFailure.STALLED, MailFailure.ERROR)


@dataclass(frozen=True)
class Credentials:
    """What a new attempt connects with: an API key (None keeps the one
    saved), or a certificate and its environment."""

    api_key: str | None = None
    certificate: Certificate | None = None
    environment: str | None = None

    @property
    def transport(self) -> TransportKind:
        return TransportKind.SF1601 if self.certificate is not None else TransportKind.PROVIDER


# The columns of one set of settings; the pending attempt has each with "pending_".
_SETTINGS = (
    "transport",
    "api_key_encrypted",
    "api_key_last4",
    "sender_cvr",
    "environment",
    "certificate_encrypted",
    "certificate_subject",
    "certificate_serial",
    "certificate_not_after",
)


class DigitalPostIntegration(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(24), default=State.DISABLED)
    # Optimistic locking: two admins saving at once cannot both win silently.
    version: Mapped[int] = mapped_column(default=1)

    # The settings in force (while active).
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    api_key_last4: Mapped[str | None] = mapped_column(String(4))
    sender_cvr: Mapped[str | None] = mapped_column(String(8))
    transport: Mapped[str] = mapped_column(String(12), default=TransportKind.PROVIDER, server_default="provider")
    environment: Mapped[str | None] = mapped_column(String(12))  # SF1601: test, production or sandbox
    certificate_encrypted: Mapped[str | None] = mapped_column(Text)  # PEM key and chain, encrypted
    certificate_subject: Mapped[str | None] = mapped_column(String(512))
    certificate_serial: Mapped[str | None] = mapped_column(String(64))
    certificate_not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Paper letters to the exempt (SF1601's fjernprint) cost money: the admin allows them.
    paper_allowed: Mapped[bool] = mapped_column(default=False, server_default=false())
    print_type: Mapped[int | None] = mapped_column()  # fjernprint's ForsendelseTypeIdentifikator
    activated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The pending attempt: new settings waiting for their verification code.
    attempt_id: Mapped[str | None] = mapped_column(String(36))
    pending_api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    pending_api_key_last4: Mapped[str | None] = mapped_column(String(4))
    pending_sender_cvr: Mapped[str | None] = mapped_column(String(8))
    pending_transport: Mapped[str | None] = mapped_column(String(12))
    pending_environment: Mapped[str | None] = mapped_column(String(12))
    pending_certificate_encrypted: Mapped[str | None] = mapped_column(Text)
    pending_certificate_subject: Mapped[str | None] = mapped_column(String(512))
    pending_certificate_serial: Mapped[str | None] = mapped_column(String(64))
    pending_certificate_not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    pending_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_status: Mapped[str | None] = mapped_column(String(12))
    sending_error: Mapped[str | None] = mapped_column(String(40))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_attempts: Mapped[int] = mapped_column(default=0)

    __mapper_args__ = {"version_id_col": version}

    organization = relationship("Organization")
    activated_by = relationship("User", foreign_keys=[activated_by_id])

    @classmethod
    def find(cls, org_id: int) -> "DigitalPostIntegration | None":
        return db.session.scalar(db.select(cls).where(cls.org_id == org_id))

    @classmethod
    def for_org(cls, org_id: int, lock: bool = False) -> "DigitalPostIntegration":
        """The organization's integration row, created (disabled) on first use."""
        query = db.select(cls).where(cls.org_id == org_id)
        if lock:
            query = query.with_for_update()
        integration = db.session.scalar(query)
        if integration is None:
            integration = cls(org_id=org_id, state=State.DISABLED, code_attempts=0)
            db.session.add(integration)
        return integration

    @property
    def is_active(self) -> bool:
        return self.state == State.ACTIVE

    @property
    def has_attempt(self) -> bool:
        return self.attempt_id is not None

    @property
    def mail_on_its_way(self) -> bool:
        return self.has_attempt and self.sending_status == Sending.SENDING

    @property
    def mail_failure(self) -> MailFailure | None:
        if self.sending_status != Sending.FAILED:
            return None
        return MailFailure.of_gateway(self.sending_error or "")

    @property
    def mail_maybe_sent(self) -> bool:
        """Failed, but perhaps delivered all the same, and its code still usable."""
        failure = self.mail_failure
        return failure is not None and failure.maybe_sent and self.code_usable()

    def mail_stalled(self, deadline: timedelta, now: datetime | None = None) -> bool:
        """Still on its way long after it was started: no worker has it."""
        return self.mail_on_its_way and (now or utcnow()) - self.pending_started_at > deadline

    @property
    def api_key(self) -> str:
        return decrypt(self.api_key_encrypted)

    @property
    def pending_api_key(self) -> str:
        return decrypt(self.pending_api_key_encrypted)

    @property
    def uses_certificate(self) -> bool:
        return self.transport == TransportKind.SF1601

    @property
    def certificate(self) -> Certificate:
        return load_bundle(decrypt(self.certificate_encrypted))

    @property
    def pending_certificate(self) -> Certificate:
        return load_bundle(decrypt(self.pending_certificate_encrypted))

    def certificate_expires_soon(self, now: datetime | None = None) -> bool:
        """Within 30 days of its expiry: the integration page warns."""
        if not self.uses_certificate or self.certificate_not_after is None:
            return False
        return self.certificate_not_after - (now or utcnow()) < EXPIRY_WARNING

    def certificate_expired(self, now: datetime | None = None) -> bool:
        return (
            self.uses_certificate
            and self.certificate_not_after is not None
            and self.certificate_not_after <= (now or utcnow())
        )

    @property
    def can_send_paper(self) -> bool:
        """Members may choose paper for the exempt: SF1601, allowed by the admin."""
        return self.uses_certificate and self.paper_allowed and self.print_type is not None

    def _reusable_key(self) -> tuple[str | None, str | None]:
        """(encrypted, last4) of the key a new attempt may keep when the admin
        leaves the field empty: the pending one unless the gateway refused
        it, else the one in force."""
        if self.pending_api_key_encrypted and self.sending_error != MailFailure.INVALID_API_KEY:
            return self.pending_api_key_encrypted, self.pending_api_key_last4
        return self.api_key_encrypted, self.api_key_last4

    @property
    def known_key_last4(self) -> str | None:
        return self._reusable_key()[1]

    def reusable_certificate(self) -> tuple[Certificate, str] | None:
        """(certificate, environment) that a new attempt may keep when the
        admin uploads none: the pending one unless it was refused, else the
        one in force."""
        if self.pending_certificate_encrypted and self.sending_error != MailFailure.CERTIFICATE_REFUSED:
            return self.pending_certificate, self.pending_environment
        if self.certificate_encrypted:
            return self.certificate, self.environment
        return None

    def start_attempt(self, credentials: Credentials, sender_cvr: str, user_id: int) -> str:
        """Begin verifying new settings; return the one-time code for the mail.

        An API key of None keeps the pending or active key. The code is stored
        only as a keyed hash; the plain code goes to the mail job and nowhere else.
        """
        encrypted = last4 = None
        certificate = credentials.certificate
        if certificate is None:
            if credentials.api_key is None:
                encrypted, last4 = self._reusable_key()
                if encrypted is None:
                    raise ValueError("no API key to keep")
            else:
                encrypted, last4 = encrypt(credentials.api_key), credentials.api_key[-4:]
        code = f"{secrets.randbelow(10**6):06d}"
        self.attempt_id = str(uuid.uuid4())
        self.pending_transport = credentials.transport
        self.pending_api_key_encrypted = encrypted
        self.pending_api_key_last4 = last4
        self.pending_environment = credentials.environment if certificate else None
        self.pending_certificate_encrypted = encrypt(certificate.bundle()) if certificate else None
        self.pending_certificate_subject = certificate.subject[:512] if certificate else None
        self.pending_certificate_serial = certificate.serial[:64] if certificate else None
        self.pending_certificate_not_after = certificate.not_after if certificate else None
        self.pending_sender_cvr = sender_cvr
        self.pending_started_by_id = user_id
        self.pending_started_at = utcnow()
        self.sending_status = Sending.SENDING
        self.sending_error = None
        self.code_hash = keyed_hash(code, f"verification:{self.attempt_id}")
        self.code_expires_at = self.pending_started_at + CODE_VALID_FOR
        self.code_attempts = 0
        if self.state == State.DISABLED:
            self.state = State.PENDING
        return code

    def code_usable(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return (
            self.has_attempt
            and self.code_attempts < MAX_CODE_ATTEMPTS
            and self.code_expires_at is not None
            and now < self.code_expires_at
        )

    def check_code(self, code: str) -> bool:
        """Count an attempt and compare; the caller commits either way."""
        self.code_attempts += 1
        expected = self.code_hash or ""
        return secrets.compare_digest(expected, keyed_hash(code.strip(), f"verification:{self.attempt_id}"))

    def activate(self, user_id: int) -> None:
        """The pending settings come into force."""
        for name in _SETTINGS:
            setattr(self, name, getattr(self, "pending_" + name))
        self.transport = self.transport or TransportKind.PROVIDER
        self.state = State.ACTIVE
        self.activated_by_id = user_id
        self.activated_at = utcnow()
        self.clear_attempt()

    def deactivate(self, user_id: int) -> None:
        """Off at once. The API key or certificate is wiped (enabling again
        runs the wizard with a new verification mail); the CVR stays to
        pre-fill the wizard."""
        self.state = State.DISABLED
        for name in _SETTINGS:
            if name not in ("transport", "sender_cvr"):
                setattr(self, name, None)
        self.deactivated_by_id = user_id
        self.deactivated_at = utcnow()
        self.clear_attempt()

    def clear_attempt(self) -> None:
        self.attempt_id = None
        for name in _SETTINGS:
            setattr(self, "pending_" + name, None)
        self.pending_started_by_id = None
        self.pending_started_at = None
        self.sending_status = None
        self.sending_error = None
        self.code_hash = None
        self.code_expires_at = None
        self.code_attempts = 0
        if self.state == State.PENDING:
            self.state = State.DISABLED


def record_sending(integration_id: int, attempt_id: str, status: Sending, error: MailFailure | None = None) -> bool:
    """Set the mail status of one attempt, and only of that attempt; the
    caller commits.

    A conditional UPDATE, so a job finishing late cannot write over a newer
    attempt that another admin started meanwhile. Returns whether it applied.
    """
    table = DigitalPostIntegration.__table__
    result = db.session.execute(
        table.update()
        .where(table.c.id == integration_id, table.c.attempt_id == attempt_id)
        .values(sending_status=status, sending_error=error, version=table.c.version + 1)
    )
    return result.rowcount == 1


# --- the verbs: each does one whole change in the caller's transaction -------


def start_verification(
    org_id: int, user_id: int, credentials: Credentials, sender_cvr: str
) -> tuple[DigitalPostIntegration, str]:
    """New settings wait for their code: the attempt and its audit record.
    Returns the integration and the one-time code for the mail job. An API
    key of None keeps the pending or active key. The caller commits, then
    enqueues."""
    integration = DigitalPostIntegration.for_org(org_id)
    code = integration.start_attempt(credentials, sender_cvr, user_id)
    record_audit(
        org_id,
        user_id,
        AuditAction.VERIFICATION_STARTED,
        target=f"CVR {integration.pending_sender_cvr}",
        sender_cvr=integration.pending_sender_cvr,
        **_credential_details(integration, "pending_"),
    )
    return integration, code


def _credential_details(integration: DigitalPostIntegration, prefix: str = "") -> dict:
    """What the audit log says of the credentials: the key's last four, or
    the certificate's serial and environment."""
    if getattr(integration, prefix + "transport") == TransportKind.SF1601:
        return {
            "certificate_serial": getattr(integration, prefix + "certificate_serial"),
            "environment": getattr(integration, prefix + "environment"),
        }
    return {"api_key_last4": getattr(integration, prefix + "api_key_last4")}


class CodeOutcome(StrEnum):
    ACTIVATED = "activated"  # first time: Digital Post is on
    SETTINGS_CHANGED = "settings_changed"  # new settings replaced those in force
    WRONG = "wrong"  # counted; tries may be left
    NO_TRIES_LEFT = "no_tries_left"  # wrong, and that was the last try
    UNUSABLE = "unusable"  # expired or out of tries before this one
    MALFORMED = "malformed"  # not six digits: not counted
    REPLACED = "replaced"  # another attempt was started meanwhile


def confirm_code(
    org_id: int, user_id: int, attempt_id: str | None, code: str
) -> tuple[CodeOutcome, DigitalPostIntegration]:
    """Check the code of the pending attempt; a right one puts its settings
    in force, with the audit record. The caller commits, whatever the outcome
    (a wrong code counts)."""
    integration = DigitalPostIntegration.for_org(org_id)
    if not integration.has_attempt or attempt_id != integration.attempt_id:
        return CodeOutcome.REPLACED, integration
    if not integration.code_usable():
        return CodeOutcome.UNUSABLE, integration
    code = (code or "").strip()
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return CodeOutcome.MALFORMED, integration
    if not integration.check_code(code):
        left = MAX_CODE_ATTEMPTS - integration.code_attempts
        return (CodeOutcome.WRONG if left > 0 else CodeOutcome.NO_TRIES_LEFT), integration
    was_active = integration.is_active
    integration.activate(user_id)
    action = AuditAction.SETTINGS_CHANGED if was_active else AuditAction.ACTIVATED
    record_audit(
        org_id,
        user_id,
        action,
        target=f"CVR {integration.sender_cvr}",
        sender_cvr=integration.sender_cvr,
        **_credential_details(integration),
    )
    return (CodeOutcome.SETTINGS_CHANGED if was_active else CodeOutcome.ACTIVATED), integration


def mark_stalled(integration: DigitalPostIntegration, deadline: timedelta) -> bool:
    """A mail still on its way after `deadline` has no worker: it gets its
    outcome, so the wizard stops waiting. The caller commits."""
    if not integration.mail_stalled(deadline):
        return False
    applied = record_sending(integration.id, integration.attempt_id, Sending.FAILED, MailFailure.STALLED)
    db.session.refresh(integration)
    return applied


def deactivate_integration(org_id: int, user_id: int) -> int | None:
    """Digital Post off at once: the key wiped, every scheduled send of the
    organization cancelled, the audit record. Returns the number of sends
    cancelled, or None when it was not enabled. The caller commits."""
    integration = DigitalPostIntegration.for_org(org_id, lock=True)
    if not integration.is_active:
        return None
    integration.deactivate(user_id)
    cancelled = cancel_scheduled_sends(org_id, reason=CancelReason.INTEGRATION_DEACTIVATED)
    record_audit(
        org_id, user_id, AuditAction.DEACTIVATED, target=f"CVR {integration.sender_cvr}", cancelled_sends=cancelled
    )
    return cancelled


def set_paper_policy(org_id: int, user_id: int, allowed: bool, print_type: int | None) -> DigitalPostIntegration:
    """Whether members may send paper letters to the exempt, and the print
    job type of the authority's fjernprint contract; audited. The caller commits."""
    integration = DigitalPostIntegration.for_org(org_id, lock=True)
    integration.paper_allowed = allowed
    integration.print_type = print_type
    record_audit(
        org_id,
        user_id,
        AuditAction.PAPER_POLICY_CHANGED,
        target=f"CVR {integration.sender_cvr}",
        allowed=allowed,
        print_type=print_type,
    )
    return integration
