"""Who may share surveys through Digital Post, and the bulk grant and revoke.

Grant and revoke work on a *selection*: a SQL subquery of membership ids (see
models.members), so 100,000 members are one INSERT … SELECT or one DELETE,
never a loop over rows.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.audit import AuditAction, AuditEvent, record_audit
from models.base import UTCDateTime, utcnow
from models.bulk import dialect_insert
from models.org import Membership, User
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


# Membership ids per audit block row: bits 0-61 of a signed 64-bit integer,
# so that a SUM of distinct powers of two (an OR) never overflows.
BLOCK_BITS = 62
NAMES_PER_EVENT = 5  # names an audit event keeps for the log; the rest is "and N more"


class AuditMemberBlock(db.Model):
    """The members an audit event concerns ("who did it to whom"), as a bit
    set: one row per block of 62 membership ids, bit i for id block*62+i.

    A grant of 100,000 members writes about 1,600 small rows here, made by
    one INSERT … SELECT … GROUP BY, instead of 100,000; the member ids can
    still be read back exactly (event_member_ids) and each member's history
    found through the block index (member_history).
    """

    __table_args__ = (Index("ix_audit_member_block_block", "block"),)

    # No foreign keys: the member may leave and the record must stay.
    event_id: Mapped[int] = mapped_column(primary_key=True)
    block: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[int] = mapped_column(BigInteger)


def _bit_blocks(event_id: int, ids_column, source):
    """SELECT (event, block, bits) over `source`'s membership ids, grouped by block."""
    block = (ids_column // BLOCK_BITS).label("block")
    bit = cast(literal_column("1"), BigInteger).op("<<")(ids_column % BLOCK_BITS)
    return source.with_only_columns(literal(event_id), block, cast(func.sum(bit), BigInteger)).group_by(block)


def _write_event_members(event, ids_column, source, who) -> None:
    """Record whom the event concerns: the bit blocks, and the first names
    (by name) for the log, as they were at the time. `who` is a condition
    on Membership naming the same members as `source`."""
    db.session.execute(
        insert(AuditMemberBlock).from_select(["event_id", "block", "bits"], _bit_blocks(event.id, ids_column, source))
    )
    # Walks the (org, name) index and stops at the fifth member found.
    names = db.session.scalars(
        select(User.name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == event.org_id, who)
        .order_by(Membership.name_folded, Membership.id)
        .limit(NAMES_PER_EVENT)
    ).all()
    event.member_names = names


def event_member_ids(event_id: int) -> set[int]:
    """Every membership id the audit event concerns."""
    ids = set()
    for block, bits in db.session.execute(
        select(AuditMemberBlock.block, AuditMemberBlock.bits).where(AuditMemberBlock.event_id == event_id)
    ):
        ids.update(block * BLOCK_BITS + i for i in range(BLOCK_BITS) if bits >> i & 1)
    return ids


def member_history(membership: Membership) -> list[AuditEvent]:
    """The grants and revocations that concerned this member, newest first.
    Only events since the member joined: an id is never given twice on
    PostgreSQL, but SQLite may give a deleted last id again."""
    mid = membership.id
    return db.session.scalars(
        select(AuditEvent)
        .join(AuditMemberBlock, AuditMemberBlock.event_id == AuditEvent.id)
        .where(
            AuditMemberBlock.block == mid // BLOCK_BITS,
            AuditMemberBlock.bits.op("&")(literal(1 << mid % BLOCK_BITS, BigInteger)) != 0,
            AuditEvent.org_id == membership.org_id,
            AuditEvent.created_at >= membership.joined_at,
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    ).all()


# An alias for EXISTS checks, so they never correlate with an outer query's
# own join on the access table.
_access = DigitalPostAccess.__table__.alias("access_check")


def has_access(membership: Membership) -> bool:
    return db.session.scalar(select(exists().where(DigitalPostAccess.membership_id == membership.id)))


def access_count(org_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(DigitalPostAccess).where(DigitalPostAccess.org_id == org_id)
    )


class AccessExtent(StrEnum):
    """How many of an organization's members have access: none, some or all."""

    NONE = "none"
    SOME = "some"
    ALL = "all"


@dataclass(frozen=True)
class AccessState:
    """Members with access and members in all, counted in one statement (one
    snapshot). The member table uses the extent to leave out the per-row
    access check when it cannot matter: before the first grant nobody has
    access, and after "select all + Add" everybody has."""

    granted: int
    members: int

    @property
    def extent(self) -> AccessExtent:
        if not self.granted:
            return AccessExtent.NONE
        return AccessExtent.ALL if self.granted >= self.members else AccessExtent.SOME


def access_state(org_id: int) -> AccessState:
    granted = (
        select(func.count().label("n")).select_from(DigitalPostAccess).where(DigitalPostAccess.org_id == org_id)
    ).subquery()
    members = select(func.count()).select_from(Membership).where(Membership.org_id == org_id).scalar_subquery()
    # Members are counted only when someone has access: both databases run
    # a subquery in CASE only on the branch taken.
    row = db.session.execute(select(granted.c.n, case((granted.c.n > 0, members), else_=0))).one()
    return AccessState(row[0], row[1])


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
    granted = _access.c.granted_event_id == event.id
    _write_event_members(
        event,
        DigitalPostAccess.membership_id,
        select(DigitalPostAccess.membership_id).where(DigitalPostAccess.granted_event_id == event.id),
        exists().where(_access.c.membership_id == Membership.id, granted),
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
    _write_event_members(
        event, Membership.id, select(Membership.id).where(Membership.id.in_(having)), Membership.id.in_(having)
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
