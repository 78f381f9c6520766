"""Shares of a survey through Digital Post: the one owner of a share's life.

A share starts as a draft that the member fills step by step (recipients,
message, schedule); confirming turns it into rounds (`ScheduledSend`: the
invitation and up to three reminders); the worker sends each round in
chunks and writes one `Delivery` per recipient and round; once no round is
pending, the recipients' CPRs are deleted.

This module holds the tables and their vocabularies. The verbs, each in
the caller's transaction:

- `rows`: reading and validating recipient rows from text and files (pure);
- `recipients`: the draft's list, stored (CPRs encrypted and hashed);
- `letters`: the composer, merge fields and the letters' limits;
- `schedule`: the rules of a schedule, in Danish time;
- `lifecycle`: start, confirm, cancel, retry, retention;
- `rounds`: the worker's side: deliveries, claims, outcomes, finish;
- `status`: what the status page counts and lists.
"""

import logging
import uuid
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config import DEFAULT_INSTALLATION
from digitalpost.errors import ErrorCode
from digitalpost.memo import memo_uuid
from extensions import db, installation
from models.base import UTCDateTime, code_point_text, utcnow
from models.policy import PURPOSE_MAX, policy_of

log = logging.getLogger(__name__)

MAX_REMINDERS = 3
SUBJECT_MAX = 255
BODY_MAX = 10_000
NAME_MAX = 100
VARIABLE_MAX = 500
MAX_VARIABLES = 20
LANGUAGES = ("da", "en")


def max_recipients() -> int:
    """Recipients one share may have (the SHARE_MAX_RECIPIENTS setting)."""
    return current_app.config["SHARE_MAX_RECIPIENTS"]


MESSAGE_NAMESPACE = uuid.UUID("0b8f3f3e-2a51-4d3f-8a53-3f1c9a4d7e21")


class ShareState(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"


class SendState(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    HELD = "held"  # over a daily volume: waits, unqueued, for an admin (models/volume.py)

    @property
    def label(self) -> str:
        return str(
            {
                SendState.HELD: _l("Waiting for an administrator's approval"),
                SendState.SCHEDULED: _l("Scheduled"),
                SendState.RUNNING: _l("Sending"),
                SendState.DONE: _l("Sent"),
                SendState.CANCELLED: _l("Cancelled"),
                SendState.FAILED: _l("Stopped by an error"),
            }[self]
        )


PENDING_STATES = (SendState.SCHEDULED, SendState.RUNNING, SendState.HELD)


class RoundKind(StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"

    @property
    def label(self) -> str:
        return str(_l("Invitation") if self == RoundKind.INVITATION else _l("Reminder"))


class CancelReason(StrEnum):
    ACCESS_REVOKED = "access_revoked"
    INTEGRATION_DEACTIVATED = "integration_deactivated"
    CANCELLED_BY_MEMBER = "cancelled_by_member"
    SURVEY_CLOSED = "survey_closed"
    NO_ACCESS = "no_access"  # found by the worker right before sending
    INTEGRATION_OFF = "integration_off"
    SURVEY_NOT_OPEN = "survey_not_open"
    NOT_APPROVED = "not_approved"  # held over a daily volume, and an admin said no

    @property
    def label(self) -> str:
        return str(
            {
                CancelReason.ACCESS_REVOKED: _l("an administrator removed your access to Digital Post"),
                CancelReason.INTEGRATION_DEACTIVATED: _l("an administrator deactivated Digital Post"),
                CancelReason.CANCELLED_BY_MEMBER: _l("you cancelled it"),
                CancelReason.SURVEY_CLOSED: _l("the survey was closed"),
                CancelReason.NO_ACCESS: _l("you no longer had access to Digital Post"),
                CancelReason.INTEGRATION_OFF: _l("Digital Post was not enabled for the organization"),
                CancelReason.SURVEY_NOT_OPEN: _l("the survey was not open"),
                CancelReason.NOT_APPROVED: _l("an administrator did not approve it"),
            }[self]
        )

    @classmethod
    def label_of(cls, code: str | None) -> str:
        """The label of a reason, or of a gateway error code that stopped a round."""
        if code in cls._value2member_map_:
            return cls(code).label
        return error_label(code)


class SendError(StrEnum):
    """Why a message or a round failed that is not the gateway's own code."""

    CPR_DELETED = "cpr_deleted"
    DELIVERY_FAILED = "delivery_failed"
    INTERNAL_ERROR = "internal_error"
    OPTED_OUT = "opted_out"  # the citizen wants no surveys from the organization (models/optout.py)
    CONTACT_CAP = "contact_cap"  # the citizen has had the letters the organization allows (models/contacts.py)


# Failures that may pass (the gateway down, no answer, too many requests, our
# own crash): the member can send those recipients their message again, with
# the same messageUUID, for RETRY_WINDOW after the round; their CPRs are kept
# that long, and deleted after.
RETRYABLE_ERRORS = (
    ErrorCode.UNAVAILABLE,
    ErrorCode.NO_ANSWER,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNEXPECTED_RESPONSE,
    ErrorCode.ERROR,
    SendError.INTERNAL_ERROR,
)
RETRY_WINDOW = timedelta(days=7)


def error_label(code: str | None) -> str:
    """Why a message or a round failed: a gateway ErrorCode or a SendError."""
    return str(
        {
            ErrorCode.RECIPIENT_EXEMPT: _l("exempt from Digital Post"),
            ErrorCode.RECIPIENT_NOT_FOUND: _l("not known by Digital Post"),
            ErrorCode.UNAVAILABLE: _l("Digital Post did not answer"),
            ErrorCode.NO_ANSWER: _l("Digital Post did not answer"),
            ErrorCode.RATE_LIMITED: _l("Digital Post was busy"),
            ErrorCode.INVALID_API_KEY: _l("Digital Post refused the organization's API key"),
            ErrorCode.SENDER_NOT_AUTHORIZED: _l("the sender CVR may not send with the API key"),
            ErrorCode.INVALID_MEMO: _l("the message could not be read by Digital Post"),
            SendError.CPR_DELETED: _l("the CPR number was already deleted"),
            SendError.DELIVERY_FAILED: _l("Digital Post could not deliver it"),
            SendError.INTERNAL_ERROR: _l("an internal error"),
            SendError.OPTED_OUT: _l("wants no surveys from the organization"),
            SendError.CONTACT_CAP: _l("has had as many survey letters as the organization allows"),
        }.get(code or "", _l("an unknown error"))
    )


# Recipient.responded_at of an anonymous survey's recipient who answered:
# "answered, time not kept". See docs/anonymity.md.
ANSWERED_UNTIMED = datetime(2000, 1, 1, tzinfo=timezone.utc)


class RecipientState(StrEnum):
    PENDING = "pending"
    SENT = "sent"  # the gateway accepted the invitation
    DELIVERED = "delivered"  # the gateway says it is in the mailbox
    FAILED = "failed"
    RESPONDED = "responded"
    DECLINED = "declined"
    LEFT_OUT = "left_out"  # not invited: opted out, or over the contact cap (error says which)

    @property
    def label(self) -> str:
        return str(
            {
                RecipientState.PENDING: _l("Scheduled"),
                RecipientState.SENT: _l("Sent"),
                RecipientState.DELIVERED: _l("Delivered"),
                RecipientState.FAILED: _l("Failed"),
                RecipientState.RESPONDED: _l("Responded"),
                RecipientState.DECLINED: _l("Declined"),
                RecipientState.LEFT_OUT: _l("Left out"),
            }[self]
        )


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # a reminder to someone who answered or declined meanwhile


class ExemptChoice(StrEnum):
    """What the member chose for recipients exempt from Digital Post."""

    LEAVE_OUT = "leave_out"
    PAPER = "paper"  # a printed letter through fjernprint (SF1601 only, if the admin allows it)


class ReachState(StrEnum):
    """The registration lookup of a draft's recipients, in the worker."""

    CHECKING = "checking"
    DONE = "done"
    FAILED = "failed"


class Channel(StrEnum):
    """How a sent letter went."""

    DIGITAL = "digital"
    PAPER = "paper"  # Automatisk Valg with the printed PDF: paper for the exempt


class Receipt(StrEnum):
    """What the message broker's receipts (PKO_PostStatus) said of a letter,
    in the order they can follow each other. A final one is never replaced."""

    RECEIVED = "received"  # Modtaget
    DELIVERED = "delivered"  # Afleveret
    FAILED = "failed"  # Fejlet

    @property
    def is_final(self) -> bool:
        return self != Receipt.RECEIVED


class Share(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(12), default=ShareState.DRAFT)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(2), default="da")
    # Background variable names from uploaded files, usable as merge fields.
    variables: Mapped[list] = mapped_column(JSON, default=list)
    # What a merge field reads for a recipient who lacks its value: field
    # name to text; a field not named here reads as nothing. Never "[NAME]".
    merge_fallbacks: Mapped[dict | None] = mapped_column(JSON, default=dict)
    # The other letter texts, beside the Danish invitation in subject and body:
    # {"invitation": {"en": {"subject", "body"}}, "reminder": {"da": …, "en": …}};
    # any may be missing (letters.texts_of says what a recipient gets then).
    texts: Mapped[dict | None] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cprs_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exempt_choice: Mapped[str] = mapped_column(String(12), default=ExemptChoice.LEAVE_OUT, server_default="leave_out")
    reach_state: Mapped[str | None] = mapped_column(String(12))
    reach_error: Mapped[str | None] = mapped_column(String(40))
    # The organization's reason for its letters (models/policy.py), frozen
    # when the share is confirmed: a repeated send must carry the same letter,
    # whatever an admin writes meanwhile. None while a draft.
    purpose_da: Mapped[str | None] = mapped_column(String(PURPOSE_MAX))
    purpose_en: Mapped[str | None] = mapped_column(String(PURPOSE_MAX))

    survey = relationship("Survey")
    membership = relationship("Membership")
    rounds = relationship("ScheduledSend", order_by="ScheduledSend.send_at", lazy="selectin", back_populates="share")

    @property
    def is_draft(self) -> bool:
        return self.state == ShareState.DRAFT

    def purpose(self, language: str) -> str:
        """The reason the share's letters give, in a language (see CitizenPolicy.purpose)."""
        if self.purpose_da is None:
            return policy_of(self.org_id).purpose(language)
        return (self.purpose_en if language == "en" else "") or self.purpose_da

    @property
    def invitation(self) -> "ScheduledSend | None":
        return next((r for r in self.rounds if r.kind == RoundKind.INVITATION), None)


class ScheduledSend(db.Model):
    """One invitation or reminder round of a share, with its time and state."""

    __table_args__ = (
        Index("ix_scheduled_send_org_state", "org_id", "state", "membership_id"),
        Index("ix_scheduled_send_membership_state", "membership_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    share_id: Mapped[int] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(12), default=RoundKind.INVITATION)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(12), default=SendState.SCHEDULED)
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rq_job_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(40))
    # The round's own letter per language, {"da": {"subject", "body"}, "en": …},
    # set when the share is confirmed and changed only while the round waits
    # (lifecycle.change_round); a recipient without their language gets "da".
    texts: Mapped[dict | None] = mapped_column(JSON)
    # Times a job of this round died (killed, timed out, raised); it is sent
    # on by a new job until ROUND_MAX_CRASHES.
    crashes: Mapped[int] = mapped_column(default=0, server_default="0")
    # The next look at the round's receipts (DELIVERY_CHECK_DELAYS) and how many
    # were done; check_at is None once none is left. The database knows them
    # as it knows the rounds, so housekeeping queues a look that Redis lost.
    check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    checks: Mapped[int] = mapped_column(default=0, server_default="0")

    share = relationship("Share", back_populates="rounds")

    @property
    def job_id(self) -> str:
        return f"round-{self.id}"

    @property
    def check_job_id(self) -> str:
        """The job of the round's next delivery look, named by its number, so
        a look queued twice is one job and an old look is not the next one."""
        return f"delivery-check-{self.id}-{self.checks}"

    @property
    def kind_label(self) -> str:
        return RoundKind(self.kind).label

    @property
    def state_label(self) -> str:
        return SendState(self.state).label

    @property
    def is_running(self) -> bool:
        return self.state == SendState.RUNNING

    @property
    def reason_label(self) -> str | None:
        code = self.cancel_reason or self.error
        return CancelReason.label_of(code) if code else None


class Recipient(db.Model):
    """A citizen a share is sent to; cpr_hmac de-duplicates within the share.
    The encrypted CPR is kept apart, in RecipientCpr."""

    __table_args__ = (
        # Few indexes: each one costs every row of a million-row import. The name
        # search is a substring match, which a B-tree cannot serve anyway.
        UniqueConstraint("share_id", "cpr_hmac"),
        Index("ix_recipient_share_state", "share_id", "state", "id"),
        # The tables' order: a page is read in it and stops, with no sort of the share.
        Index("ix_recipient_share_id", "share_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"))
    cpr_hmac: Mapped[str] = mapped_column(code_point_text(64))
    cpr_masked: Mapped[str] = mapped_column(String(11))
    first_name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    last_name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    name_folded: Mapped[str] = mapped_column(String(2 * NAME_MAX + 1), default="")
    language: Mapped[str] = mapped_column(String(2), default="da")
    token: Mapped[str] = mapped_column(code_point_text(32), unique=True)
    state: Mapped[str] = mapped_column(String(12), default=RecipientState.PENDING)
    error: Mapped[str | None] = mapped_column(String(40))
    # The paste or upload the row came from (None: typed in). Its rows are on
    # the list once the member accepts the import; see listed().
    import_id: Mapped[int | None]
    # When the recipient answered; for an anonymous survey only that they
    # did (ANSWERED_UNTIMED), and their state is left as it was, so that
    # neither the member nor the database can match them to their answer.
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The registration lookup's answer (digitalpost.transport.Registration);
    # None until looked up. Never the CPR itself.
    registration: Mapped[str | None] = mapped_column(String(10))
    # The short code of the printed letter's link (/k/<code>), for the exempt who get paper.
    paper_code: Mapped[str | None] = mapped_column(String(12), unique=True)
    # A letter of any round reached their mailbox, whatever they did after;
    # set by a trigger on delivery.delivered_at (models/triggers.py).
    in_mailbox: Mapped[bool] = mapped_column(default=False, server_default=sa_false())

    share = relationship("Share")
    # The CPR and background variables; gone once retention has run.
    secret = relationship(
        "RecipientCpr",
        primaryjoin="and_(Recipient.share_id == foreign(RecipientCpr.share_id), "
        "Recipient.cpr_hmac == foreign(RecipientCpr.cpr_hmac))",
        viewonly=True,
        uselist=False,
    )

    @property
    def variables(self) -> dict | None:
        """The background variables of the recipient's row (None once deleted)."""
        return self.secret.variables if self.secret is not None else None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def state_label(self) -> str:
        return RecipientState(self.state).label

    @property
    def is_pending(self) -> bool:
        return self.state == RecipientState.PENDING

    @property
    def error_label(self) -> str | None:
        return error_label(self.error) if self.error else None


class TallyName(StrEnum):
    """What share_tally counts besides each RecipientState."""

    RESPONDED = "responded_at"  # answered (an anonymous survey's recipient keeps their state)
    IN_MAILBOX = "in_mailbox"  # in_mailbox, or in the delivered state


class ShareTally(db.Model):
    """A confirmed share's recipients counted: by state (name: the
    RecipientState) and by TallyName. Kept by triggers on recipient
    (models/triggers.py), never written here: the status page polls the
    counts while a round runs, and counting a million rows each time
    would not do."""

    share_id: Mapped[int] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class RecipientCpr(db.Model):
    """A recipient's CPR, Fernet-encrypted, and the background variables of
    their row, for as long as rounds are pending.

    A table of its own, keyed like the recipient's de-duplication, so that
    the import writes it without asking for recipient ids, and retention is
    one DELETE rather than an UPDATE that rewrites every recipient row.
    """

    share_id: Mapped[int] = mapped_column(primary_key=True)
    cpr_hmac: Mapped[str] = mapped_column(code_point_text(64), primary_key=True)
    cpr_encrypted: Mapped[str] = mapped_column(Text)
    # Shown to the member and merged into letters; personal data as much as
    # the CPR, and so deleted with it.
    variables: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))


def secret_of_recipient():
    """The join condition of a recipient to its secret row (RecipientCpr)."""
    return (RecipientCpr.share_id == Recipient.share_id) & (RecipientCpr.cpr_hmac == Recipient.cpr_hmac)


class Delivery(db.Model):
    """One recipient in one round. The messageUUID derives from both, so a
    retried or repeated job can never deliver twice."""

    __table_args__ = (
        UniqueConstraint("round_id", "recipient_id"),
        Index("ix_delivery_round_state", "round_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys: a round inserts up to 100,000 rows in one statement.
    round_id: Mapped[int]
    recipient_id: Mapped[int]
    state: Mapped[str] = mapped_column(String(10), default=DeliveryState.PENDING)
    error: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A worker's claim on a pending delivery, until the lease runs out (a dead
    # worker's claims lapse by themselves); who claimed it stays as who sent it.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # The shape of its messageUUID: 4 (what MeMo's schema takes), or 5 for a
    # delivery that may have reached the gateway before UUIDs were version 4;
    # it keeps its UUID, so that sending it again stays a replay.
    uuid_version: Mapped[int] = mapped_column(default=4, server_default="4")
    # Written before a transport without replays (SF1601) is called, so a
    # receipt finds its delivery and a repeat knows what went out.
    message_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    channel: Mapped[str | None] = mapped_column(String(8))
    receipt: Mapped[str | None] = mapped_column(String(10))
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt_code: Mapped[str | None] = mapped_column(String(40))
    receipt_text: Mapped[str | None] = mapped_column(String(256))


def message_uuid(round_id: int, recipient_id: int, version: int = 4) -> str:
    """One messageUUID per round and recipient, the same on every try. Another
    installation has its own round 1 and recipient 1, so its name is part of
    the UUID's (but for the default's, whose UUIDs stay as they were)."""
    name = f"{round_id}:{recipient_id}"
    if (scope := installation()) != DEFAULT_INSTALLATION:
        name = f"{scope}:{name}"
    return str(uuid.uuid5(MESSAGE_NAMESPACE, name)) if version == 5 else memo_uuid(MESSAGE_NAMESPACE, name)


class RecipientImport(db.Model):
    """One pasted text or uploaded file: its report, and whether the member
    accepted its valid rows. Failures keep row number, reason and masked CPR."""

    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(255), default="")
    rows: Mapped[int] = mapped_column(default=0)
    valid: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    failures: Mapped[list] = mapped_column(JSON, default=list)
    accepted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- the draft ----------------------------------------------------------------


# --- merge fields --------------------------------------------------------------


# --- confirming, cancelling, status ------------------------------------------
