"""Who may share surveys through Digital Post, and the bulk grant and revoke.

Grant and revoke work on a *selection*: a SQL subquery of membership ids (see
models.members), so 100,000 members are one INSERT … SELECT or one DELETE,
never a loop over rows.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, delete, exists, func, insert, literal, select, text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.audit import AuditAction, record_audit
from models.base import UTCDateTime, utcnow
from models.bulk import dialect_insert
from models.org import Membership
from models.sharing import CancelReason, cancel_scheduled_sends


class DigitalPostAccess(db.Model):
    """One row per member who may share via Digital Post.

    Only membership_id is a foreign key (access goes when the member leaves).
    PostgreSQL checks each foreign key row by row, and a grant inserts up to
    100,000 rows at once; the other ids are set by the grant itself from rows
    it has just read, so they need no check.
    """

    __table_args__ = (Index("ix_digital_post_access_org", "org_id", "membership_id"),)

    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int]
    granted_by_id: Mapped[int | None]
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The audit event of the grant that inserted this row: how the event's
    # member list is written by one statement after a bulk insert.
    granted_event_id: Mapped[int | None] = mapped_column(index=True)


class AuditEventMember(db.Model):
    """The members an audit event concerns ("who did it to whom"), one row each,
    written by the same bulk statement as the change itself."""

    __table_args__ = (Index("ix_audit_event_member_membership", "membership_id"),)

    # No foreign keys: the member may leave and the record must stay, and a
    # bulk insert of 100,000 rows should not pay a check per row.
    event_id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None]


def has_access(membership: Membership) -> bool:
    return db.session.scalar(select(exists().where(DigitalPostAccess.membership_id == membership.id)))


def access_count(org_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(DigitalPostAccess).where(DigitalPostAccess.org_id == org_id)
    )


def _refresh_statistics(changed: int) -> None:
    """After a bulk change, let PostgreSQL's planner know the access table's
    new size at once rather than at autovacuum's next round: with stale
    statistics it may plan a per-row scan over 100,000 rows."""
    if changed > 1000 and db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE digital_post_access"))


def grant_access(org_id: int, actor_id: int, selected_ids) -> int:
    """Give Digital Post access to the selected members who lack it. Returns how many got it.

    `selected_ids` is a subquery of membership ids; only members of the
    organization are taken. Members who have access already are skipped by
    the unique index (ON CONFLICT DO NOTHING), so a repeated (double-clicked)
    or concurrent grant changes nothing.
    """
    event = record_audit(org_id, actor_id, AuditAction.ACCESS_GRANTED)
    db.session.flush()  # the event's id tags the rows this grant inserts
    db.session.execute(
        dialect_insert(DigitalPostAccess)
        .from_select(
            ["org_id", "membership_id", "granted_by_id", "granted_at", "granted_event_id"],
            select(
                literal(org_id), Membership.id, literal(actor_id), literal(utcnow(), UTCDateTime), literal(event.id)
            ).where(Membership.id.in_(selected_ids), Membership.org_id == org_id),
        )
        .on_conflict_do_nothing(index_elements=["membership_id"])
    )
    # Counted from the tagged rows: psycopg reports no rowcount for INSERT … SELECT
    # here, and RETURNING would ship every new id back to Python.
    inserted = db.session.scalar(
        select(func.count()).select_from(DigitalPostAccess).where(DigitalPostAccess.granted_event_id == event.id)
    )
    if not inserted:
        db.session.delete(event)
        return 0
    db.session.execute(
        insert(AuditEventMember).from_select(
            ["event_id", "membership_id", "user_id"],
            select(literal(event.id), DigitalPostAccess.membership_id, Membership.user_id)
            .join(Membership, Membership.id == DigitalPostAccess.membership_id)
            .where(DigitalPostAccess.granted_event_id == event.id),
        )
    )
    event.target = str(inserted)
    event.details = {"count": inserted}
    _refresh_statistics(inserted)
    return inserted


def revoke_access(org_id: int, actor_id: int, selected_ids) -> tuple[int, int]:
    """Take access from the selected members and cancel, in the same
    transaction, every invitation and reminder they have scheduled.
    Returns (members who lost access, sends cancelled)."""
    having = select(DigitalPostAccess.membership_id).where(
        DigitalPostAccess.org_id == org_id, DigitalPostAccess.membership_id.in_(selected_ids)
    )
    event = record_audit(org_id, actor_id, AuditAction.ACCESS_REVOKED)
    db.session.flush()
    db.session.execute(
        insert(AuditEventMember).from_select(
            ["event_id", "membership_id", "user_id"],
            select(literal(event.id), Membership.id, Membership.user_id).where(Membership.id.in_(having)),
        )
    )
    cancelled = cancel_scheduled_sends(org_id, reason=CancelReason.ACCESS_REVOKED, membership_ids=having)
    removed = db.session.execute(
        delete(DigitalPostAccess).where(
            DigitalPostAccess.org_id == org_id, DigitalPostAccess.membership_id.in_(selected_ids)
        )
    ).rowcount
    if not removed:
        db.session.delete(event)
        return 0, 0
    event.target = str(removed)
    event.details = {"count": removed, "cancelled_sends": cancelled}
    _refresh_statistics(removed)
    return removed, cancelled
