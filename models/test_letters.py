"""A test letter: the share's letter, exactly as composed, sent to the member's
own Digital Post before the invitations go.

The member's CPR is never stored: the row holds what was sent and how it
went, and the CPR reaches the job sealed in Redis (jobs/sealed.py), as the
verification mail's does. Its button opens the answer page in a preview mode
that records nothing (views/respond.py), and it is no recipient, so the
share's status counts nothing of it.
"""

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import UTCDateTime, utcnow
from models.sharing import CancelReason, Recipient, RoundKind, Share
from models.sharing.letters import PREVIEW_PATH, Letter, compose, language_of, public_url
from models.sharing.recipients import listed

# How long the preview link in a test letter opens the answer page.
PREVIEW_LINK_DAYS = 14
# The job's outcome codes that are not the gateway's (see outcome_label).
EXPIRED = "expired"


class TestLetterState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class TestLetter(db.Model):
    __tablename__ = "test_letter"
    __test__ = False  # not a test class, whatever pytest thinks of the name

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    share_id: Mapped[int] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(12), default=RoundKind.INVITATION)
    # Whose merge fields the letter was composed with (None: the list was empty).
    recipient_id: Mapped[int | None]
    cpr_masked: Mapped[str] = mapped_column(String(11))  # 010190-****, as the page says where it went
    message_uuid: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(10), default=TestLetterState.SENDING)
    error: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    share = relationship("Share")

    @property
    def is_sending(self) -> bool:
        return self.state == TestLetterState.SENDING

    @property
    def error_label(self) -> str | None:
        if not self.error:
            return None
        if self.error == EXPIRED:
            return str(_l("it waited too long for the worker; send it again"))
        return CancelReason.label_of(self.error)


def start_test_letter(share: Share, membership_id: int, kind: RoundKind, cpr_masked: str) -> TestLetter:
    """A test letter on its way, composed for the first recipient on the list
    (the preview's first choice), in the caller's transaction."""
    recipient_id = db.session.scalar(select(Recipient.id).where(listed(share.id)).order_by(Recipient.id).limit(1))
    letter = TestLetter(
        org_id=share.org_id,
        share_id=share.id,
        membership_id=membership_id,
        kind=kind,
        recipient_id=recipient_id,
        cpr_masked=cpr_masked,
        message_uuid=str(uuid.uuid4()),  # one per test letter; a retry of its job is a replay
        state=TestLetterState.SENDING,
    )
    db.session.add(letter)
    db.session.flush()
    return letter


def finish_test_letter(test_id: int, state: TestLetterState, error: str | None = None) -> bool:
    """Its outcome, once: a second job or callback finds it recorded."""
    return bool(
        db.session.execute(
            update(TestLetter)
            .where(TestLetter.id == test_id, TestLetter.state == TestLetterState.SENDING)
            .values(state=state, error=error, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def expire_stalled_test_letters(deadline: timedelta) -> int:
    """Test letters whose job never ran (no worker, Redis lost) get an outcome."""
    return db.session.execute(
        update(TestLetter)
        .where(TestLetter.state == TestLetterState.SENDING, TestLetter.created_at < utcnow() - deadline)
        .values(state=TestLetterState.FAILED, error=EXPIRED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="answer-preview")


def preview_link(survey_id: int, language: str, issued: datetime) -> str:
    """A link that opens the survey's answer page in preview mode. It carries
    the test letter's own time rather than the clock's, so composing the same
    test letter again (a retried job) gives the same letter, which the gateway
    takes as a replay and not as a conflict."""
    return public_url(PREVIEW_PATH + _serializer().dumps([survey_id, language, int(issued.timestamp())]))


def read_preview_token(token: str) -> tuple[int, str] | None:
    try:
        survey_id, language, issued = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(survey_id, int) and isinstance(issued, int) and language in ("da", "en")):
        return None
    if utcnow().timestamp() - issued > PREVIEW_LINK_DAYS * 86400:
        return None
    return survey_id, language


def letter_for(row: TestLetter) -> Letter:
    """The letter a test letter carries: the share's, for its sample recipient,
    with a preview link in place of the recipient's own."""
    recipient = db.session.get(Recipient, row.recipient_id) if row.recipient_id else None
    link = preview_link(row.share.survey_id, language_of(recipient), row.created_at)
    return compose(row.share, RoundKind(row.kind), recipient, link=link)
