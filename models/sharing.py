"""Shares of a survey through Digital Post, and their scheduled rounds.

The sharing feature fills these tables; what is here already is what access
revocation and deactivation need: one function that cancels scheduled sends.
"""
import logging
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, event, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from extensions import db
from models.base import UTCDateTime, utcnow

log = logging.getLogger(__name__)


class SendState:
    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class Share(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(2), default="da")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
    kind: Mapped[str] = mapped_column(String(12), default="invitation")  # invitation | reminder
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(12), default=SendState.SCHEDULED)
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rq_job_id: Mapped[str | None] = mapped_column(String(64))


def scheduled_sends_filter(org_id: int, membership_ids=None):
    conditions = [ScheduledSend.org_id == org_id, ScheduledSend.state == SendState.SCHEDULED]
    if membership_ids is not None:
        conditions.append(ScheduledSend.membership_id.in_(membership_ids))
    return conditions


def count_scheduled_sends(org_id: int, membership_ids=None) -> int:
    return db.session.scalar(
        db.select(db.func.count()).select_from(ScheduledSend).where(*scheduled_sends_filter(org_id, membership_ids))
    )


def cancel_scheduled_sends(org_id: int, reason: str, membership_ids=None) -> int:
    """Cancel every scheduled send of the organization, or of the given
    members (a subquery of membership ids), in the current transaction.

    Their rq jobs are dequeued once the transaction commits; a job that
    still runs re-reads its row and finds it cancelled.
    """
    job_ids = db.session.execute(
        update(ScheduledSend)
        .where(*scheduled_sends_filter(org_id, membership_ids))
        .values(state=SendState.CANCELLED, cancel_reason=reason, cancelled_at=utcnow())
        .returning(ScheduledSend.rq_job_id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    db.session.info.setdefault("rq_jobs_to_cancel", set()).update(j for j in job_ids if j)
    return len(job_ids)


@event.listens_for(Session, "after_commit")
def _dequeue_cancelled_jobs(session):
    job_ids = session.info.pop("rq_jobs_to_cancel", None)
    if not job_ids:
        return
    from jobs.connection import cancel_jobs

    try:
        cancel_jobs(job_ids)
    except Exception:  # the rows say cancelled; a job that runs anyway re-checks them
        log.exception("could not dequeue %d cancelled jobs", len(job_ids))


@event.listens_for(Session, "after_rollback")
def _forget_cancelled_jobs(session):
    session.info.pop("rq_jobs_to_cancel", None)
