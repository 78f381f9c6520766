"""Who may share surveys through Digital Post, and the bulk grant and revoke.

Grant and revoke work on a *selection*: a SQL subquery of membership ids (see
models.members), so 100,000 members are one INSERT … SELECT or one DELETE,
never a loop over rows.
"""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint, delete, exists, func, insert, literal, select
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.audit import AuditEvent, record_audit
from models.base import UTCDateTime, utcnow
from models.org import Membership
from models.sharing import cancel_scheduled_sends


class DigitalPostAccess(db.Model):
    __table_args__ = (
        UniqueConstraint("membership_id"),
        Index("ix_digital_post_access_org", "org_id", "membership_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEventMember(db.Model):
    """The members an audit event concerns ("who did it to whom"), one row each,
    written by the same bulk statement as the change itself."""

    __table_args__ = (Index("ix_audit_event_member_membership", "membership_id"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("audit_event.id", ondelete="CASCADE"), primary_key=True)
    membership_id: Mapped[int] = mapped_column(primary_key=True)  # no FK: the member may leave later
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


def has_access(membership: Membership) -> bool:
    return db.session.scalar(
        select(exists().where(DigitalPostAccess.membership_id == membership.id))
    )


def access_count(org_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(DigitalPostAccess).where(DigitalPostAccess.org_id == org_id))


def _record_members(event: AuditEvent, membership_ids) -> None:
    db.session.flush()  # the event's id
    db.session.execute(
        insert(AuditEventMember).from_select(
            ["event_id", "membership_id", "user_id"],
            select(literal(event.id), Membership.id, Membership.user_id).where(Membership.id.in_(membership_ids)),
        )
    )


def grant_access(org_id: int, actor_id: int, selected_ids) -> int:
    """Give Digital Post access to the selected members who lack it. Returns how many got it.

    `selected_ids` is a subquery of membership ids already limited to the
    organization. Members with access already are left alone, so a repeated
    (double-clicked) grant changes nothing.
    """
    lacking = select(Membership.id).where(
        Membership.id.in_(selected_ids),
        Membership.org_id == org_id,
        ~exists().where(DigitalPostAccess.membership_id == Membership.id),
    )
    event = record_audit(org_id, actor_id, "access.granted")
    _record_members(event, lacking)  # the same set the INSERT below takes
    lacking_rows = lacking.subquery()
    # RETURNING rather than rowcount: psycopg reports -1 for INSERT … SELECT here.
    inserted = len(db.session.execute(
        insert(DigitalPostAccess).from_select(
            ["org_id", "membership_id", "granted_by_id", "granted_at"],
            select(literal(org_id), lacking_rows.c.id, literal(actor_id), literal(utcnow(), UTCDateTime)),
        ).returning(DigitalPostAccess.id)
    ).all())
    if not inserted:
        db.session.delete(event)
        return 0
    event.target = str(inserted)
    event.details = {"count": inserted}
    return inserted


def revoke_access(org_id: int, actor_id: int, selected_ids) -> tuple[int, int]:
    """Take access from the selected members and cancel, in the same
    transaction, every invitation and reminder they have scheduled.
    Returns (members who lost access, sends cancelled)."""
    having = select(DigitalPostAccess.membership_id).where(
        DigitalPostAccess.org_id == org_id, DigitalPostAccess.membership_id.in_(selected_ids))
    ids = select(having.subquery().c.membership_id)
    event = record_audit(org_id, actor_id, "access.revoked")
    _record_members(event, ids)
    cancelled = cancel_scheduled_sends(org_id, reason="access_revoked", membership_ids=ids)
    removed = db.session.execute(
        delete(DigitalPostAccess).where(DigitalPostAccess.org_id == org_id,
                                        DigitalPostAccess.membership_id.in_(selected_ids))
    ).rowcount
    if not removed:
        db.session.delete(event)
        return 0, 0
    event.target = f"{removed}"
    event.details = {"count": removed, "cancelled_sends": cancelled}
    return removed, cancelled
