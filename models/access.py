"""Who may share surveys through Digital Post, and the bulk grant and revoke.

Access and the audit of who it was given to or taken from are both kept as
sets of membership ids in bit blocks (models/bitblocks.py). A grant or
revoke of 100,000 members is one aggregate over the selection (a SQL
subquery of membership ids, see models.members) and about 1,600 small rows
written, never 100,000.

What that trades: "access since" and "by whom" are not stored per member
but read from the audit log (the latest grant that names the member), and a
member who leaves is taken out of the bits by a trigger on membership
(models/triggers.py), where a foreign key used to cascade.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    and_,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import Select

from extensions import db
from models.audit import AuditAction, AuditEvent, record_audit
from models.bitblocks import BLOCK_BITS, aggregate, block_and_bit, block_of, contains, holds, ids_of, up_to, with_ids
from models.bulk import dialect_insert
from models.integration import DigitalPostIntegration
from models.org import MemberBlock, Membership, Organization, User
from models.planner import materialized
from models.sharing import CancelReason, ScheduledSend
from models.sharing.lifecycle import cancel_scheduled_sends

NAMES_PER_EVENT = 5  # names an audit event keeps for the log; the rest is "and N more"
FEW_MEMBERS = 1000  # up to this many, an event's first names are looked up by id
# A grant to every member copies the blocks it takes whole in SQL, the rest
# it names one by one; past this many others, it writes every block itself.
WHOLE_BLOCKS_MAX = 500


class AccessBlock(db.Model):
    """Members of an organization who may share via Digital Post, as a set
    of bit blocks (models/bitblocks.py). No row, no access."""

    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    block: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[int]


class AuditMemberBlock(db.Model):
    """The members an audit event concerns ("who did it to whom"), as bit
    blocks like AccessBlock's. The ids read back exactly (event_member_ids),
    and each member's history is found through the block index
    (member_history)."""

    __table_args__ = (Index("ix_audit_member_block_block", "block"),)

    # No foreign keys: the member may leave and the record must stay.
    event_id: Mapped[int] = mapped_column(primary_key=True)
    block: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[int]


# The grant and revoke group the selected members by block. Off these
# indexes the members come in block order, for the organization or for one
# department, and the database adds them up as they come instead of sorting
# or hashing them first; `id` is there for PostgreSQL to read the index
# alone (SQLite's indexes hold the rowid anyway). docs/performance.md has
# what they bought.
Index("ix_membership_org_block", Membership.org_id, block_of(Membership.id), Membership.id)
Index(
    "ix_membership_org_department_block",
    Membership.org_id,
    Membership.department,
    block_of(Membership.id),
    Membership.id,
)


def access_clause(ids_column, org_id):
    """SQL: the membership id in `ids_column` has access in `org_id` (a value or column)."""
    return contains(AccessBlock, ids_column, AccessBlock.org_id == org_id)


class ShareOption(StrEnum):
    """Digital Post as a member's way to share a survey."""

    AVAILABLE = "available"
    NO_ACCESS = "no_access"  # the integration is on, but not for this member
    SWITCHED_OFF = "switched_off"  # the organization has Digital Post off (or never connected it)


def digital_post_option(membership: Membership) -> ShareOption:
    """Asked afresh on every request, so a grant, a revoke or a
    deactivation shows on the next page."""
    integration = DigitalPostIntegration.find(membership.org_id)
    if integration is None or not integration.is_active:
        return ShareOption.SWITCHED_OFF
    return ShareOption.AVAILABLE if has_access(membership) else ShareOption.NO_ACCESS


def may_share_via_digital_post(membership: Membership) -> bool:
    """Who may share surveys through Digital Post: a member with access, while
    the organization's integration is active."""
    return digital_post_option(membership) is ShareOption.AVAILABLE


def has_access(membership: Membership) -> bool:
    return has_access_id(membership.org_id, membership.id)


def has_access_id(org_id: int, membership_id: int) -> bool:
    block, _ = block_and_bit(membership_id)
    bits = db.session.scalar(select(AccessBlock.bits).where(AccessBlock.org_id == org_id, AccessBlock.block == block))
    return holds(bits, membership_id)


def access_count(org_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(AccessBlock.members), 0)).where(AccessBlock.org_id == org_id)
    )


def granted_since(org_id: int, membership_ids) -> dict[int, datetime]:
    """When each of these members (a page of them) last got access: the
    newest grant in the audit log that names them. One query, driven by the
    members' blocks (ix_audit_member_block_block): asked row by row,
    PostgreSQL went through every grant of the organization for each row."""
    by_block: dict[int, list[int]] = {}
    for mid in membership_ids:
        by_block.setdefault(block_and_bit(mid)[0], []).append(mid)
    if not by_block:
        return {}
    # The blocks first (MATERIALIZED): PostgreSQL, thinking the organization
    # has one grant, would otherwise go through each of its grants. Over the
    # tables, not the ORM entities: the ORM's result handling was half the time.
    amb, event = AuditMemberBlock.__table__.c, AuditEvent.__table__.c
    blocks = materialized(select(amb.event_id, amb.block, amb.bits).where(amb.block.in_(by_block)).cte("page_blocks"))
    grants = db.session.execute(
        select(blocks.c.block, blocks.c.bits, event.created_at)
        .join(AuditEvent.__table__, event.id == blocks.c.event_id)
        .where(event.org_id == org_id, event.action == AuditAction.ACCESS_GRANTED)
    )
    since: dict[int, datetime] = {}
    for block, bits, at in grants:
        for mid in by_block[block]:
            if holds(bits, mid) and (mid not in since or at > since[mid]):
                since[mid] = at
    return since


class AccessExtent(StrEnum):
    """How many of an organization's members have access: none, some or all."""

    NONE = "none"
    SOME = "some"
    ALL = "all"


@dataclass(frozen=True)
class AccessState:
    """Members with access and members in all, read in one statement (one
    snapshot) off the access blocks and the organization's member count.
    The member table uses them to leave out the per-row access check when
    it cannot matter (before the first grant nobody has access, after
    "select all + Add" everybody has) and to know its size without a filter."""

    granted: int
    members: int

    @property
    def extent(self) -> AccessExtent:
        if not self.granted:
            return AccessExtent.NONE
        return AccessExtent.ALL if self.granted >= self.members else AccessExtent.SOME


def access_state(org_id: int) -> AccessState:
    granted = select(func.coalesce(func.sum(AccessBlock.members), 0)).where(AccessBlock.org_id == org_id)
    members = select(Organization.member_count).where(Organization.id == org_id)
    row = db.session.execute(select(granted.scalar_subquery(), members.scalar_subquery())).one()
    return AccessState(int(row[0]), int(row[1] or 0))


def event_member_ids(event_id: int) -> set[int]:
    """Every membership id the audit event concerns."""
    return ids_of(
        db.session.execute(
            select(AuditMemberBlock.block, AuditMemberBlock.bits).where(AuditMemberBlock.event_id == event_id)
        )
    )


def member_history(membership: Membership) -> list[AuditEvent]:
    """The grants and revocations that concerned this member, newest first.
    Only events since the member joined: an id is never given twice on
    PostgreSQL, but SQLite may give a deleted last id again."""
    block, bit = block_and_bit(membership.id)
    return db.session.scalars(
        select(AuditEvent)
        .join(AuditMemberBlock, AuditMemberBlock.event_id == AuditEvent.id)
        .where(
            AuditMemberBlock.block == block,
            AuditMemberBlock.bits.bitwise_and(literal(bit, BigInteger)) != 0,
            AuditEvent.org_id == membership.org_id,
            AuditEvent.created_at >= membership.joined_at,
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    ).all()


def selection_of(*membership_ids: int):
    """The selection of these members, as grant_access and revoke_access take it."""
    return select(Membership.id).where(Membership.id.in_(membership_ids))


@dataclass(frozen=True)
class EveryMember:
    """A selection of every member of the organization who existed when it
    was chosen (ids up to `ceiling`), with `picked` added and `excluded`
    taken out; grant_access reads it from the organization's member blocks
    (MemberBlock), not from its members' rows."""

    ceiling: int
    picked: tuple[int, ...] = ()
    excluded: tuple[int, ...] = ()

    def record(self, event: AuditEvent, without_access: bool) -> None:
        """Write the chosen members' blocks as the event's (AuditMemberBlock),
        less those with access when `without_access`. A block chosen whole,
        as most are, is copied from member_block by the database; only the
        others (the ceiling's block, unticked or picked members, members
        with access) are worked out here."""
        org_id = event.org_id
        members = dict(
            db.session.execute(select(MemberBlock.block, MemberBlock.bits).where(MemberBlock.org_id == org_id)).all()
        )
        chosen = with_ids(with_ids(up_to(members, self.ceiling), self.picked, True), self.excluded, False)
        if without_access:
            have = select(AccessBlock.block, AccessBlock.bits).where(AccessBlock.org_id == org_id)
            for block, bits in db.session.execute(have):
                if block in chosen:
                    chosen[block] &= ~bits
        # Picked ids that are no longer members are not members now either.
        chosen = {block: bits & members.get(block, 0) for block, bits in chosen.items()}
        top = self.ceiling // BLOCK_BITS
        differing = {block for block, bits in members.items() if chosen.get(block) != bits}
        copied = len(differing) <= WHOLE_BLOCKS_MAX
        rows = [  # the blocks the database does not copy (past the ceiling: picked members only)
            {"event_id": event.id, "block": block, "bits": bits, "members": bits.bit_count()}
            for block, bits in sorted(chosen.items())
            if bits and (not copied or block in differing or block > top)
        ]
        if copied:
            whole = select(literal(event.id), MemberBlock.block, MemberBlock.bits, MemberBlock.members).where(
                MemberBlock.org_id == org_id, MemberBlock.block <= top, MemberBlock.block.not_in(differing)
            )
            db.session.execute(insert(AuditMemberBlock).from_select(["event_id", "block", "bits", "members"], whole))
        if rows:  # Core, not the ORM's bulk insert: its bookkeeping per row cost more than the rows
            db.session.execute(AuditMemberBlock.__table__.insert(), rows)


def _selected(org_id: int, selected_ids) -> Select:
    """The selection as a SELECT over membership, narrowed to the
    organization. It is extended, not nested: `id IN (SELECT id FROM
    membership …)` would read the members twice."""
    if selected_ids.get_final_froms() != [Membership.__table__]:
        raise ValueError("a selection is a SELECT of Membership.id over membership, as selection_of() makes")
    return selected_ids.with_only_columns(Membership.id).where(Membership.org_id == org_id)


def _lock_organization(org_id: int) -> None:
    """Grants and revokes of one organization one at a time: each reads the
    bits it then changes. PostgreSQL locks the organization's row; SQLite
    has one writer at a time anyway (FOR UPDATE is left out there)."""
    db.session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())


def _record_members(event: AuditEvent, members) -> int:
    """Write the event's bit blocks from `members` (a SELECT of membership
    ids, all of the event's organization) and keep the first names for the
    log. Returns how many members the event concerns."""
    rows = aggregate(members, Membership.id, literal(event.id))
    db.session.execute(insert(AuditMemberBlock).from_select(["event_id", "block", "bits", "members"], rows))
    return _named(event)


def _named(event: AuditEvent) -> int:
    """How many members the event's blocks hold; their first names kept for the log."""
    count = db.session.scalar(
        select(func.coalesce(func.sum(AuditMemberBlock.members), 0)).where(AuditMemberBlock.event_id == event.id)
    )
    if count:
        event.member_names = _first_names(event, int(count))
    return int(count or 0)


def _first_names(event: AuditEvent, count: int) -> list[str]:
    """The first few names (by name) of the event's members.

    Few members: their ids from the event's blocks, joined to their users.
    Many: the (org, name) index is read a page at a time, each page's ids
    checked against just the blocks they fall in, until five are found;
    then only those five are joined to users. (Joining everyone and
    stopping at five, PostgreSQL's generic plan for the prepared statement,
    from its sixth run, joined every member first.)"""
    if count <= FEW_MEMBERS:
        blocks = select(AuditMemberBlock.block, AuditMemberBlock.bits).where(AuditMemberBlock.event_id == event.id)
        chosen = list(ids_of(db.session.execute(blocks)))
    else:
        chosen, after = [], None
        while len(chosen) < NAMES_PER_EVENT:
            page = select(Membership.id, Membership.name_folded).where(Membership.org_id == event.org_id)
            if after is not None:
                page = page.where(
                    (Membership.name_folded > after[0])
                    | and_(Membership.name_folded == after[0], Membership.id > after[1])
                )
            # A short first page: an event of many members has its five among the first few.
            size = 50 if after is None else 1000
            rows = db.session.execute(page.order_by(Membership.name_folded, Membership.id).limit(size)).all()
            if not rows:
                break
            bits = dict(
                db.session.execute(
                    select(AuditMemberBlock.block, AuditMemberBlock.bits).where(
                        AuditMemberBlock.event_id == event.id,
                        AuditMemberBlock.block.in_({block_and_bit(mid)[0] for mid, _ in rows}),
                    )
                ).all()
            )
            chosen += [mid for mid, _ in rows if holds(bits.get(block_and_bit(mid)[0]), mid)]
            after = (rows[-1].name_folded, rows[-1].id)
    return list(
        db.session.scalars(
            select(User.name)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.id.in_(chosen[: max(NAMES_PER_EVENT, FEW_MEMBERS)]))
            .order_by(Membership.name_folded, Membership.id)
            .limit(NAMES_PER_EVENT)
        )
    )


def grant_access(org_id: int, actor_id: int, selected_ids) -> int:
    """Give Digital Post access to the selected members who lack it. Returns how many got it.

    `selected_ids` is a SELECT of Membership.id over membership (see
    selection_of), or EveryMember; only members of the organization are
    taken, and only those without access, so a repeated (double-clicked) or
    concurrent grant changes nothing.
    """
    _lock_organization(org_id)
    event = record_audit(org_id, actor_id, AuditAction.ACCESS_GRANTED)
    db.session.flush()  # the blocks are written under the event's id; SQLite's write lock is ours from here
    if isinstance(selected_ids, EveryMember):
        selected_ids.record(event, without_access=bool(access_count(org_id)))
        granted = _named(event)
    else:
        members = _selected(org_id, selected_ids)
        if access_count(org_id):  # before the first grant, nobody needs checking
            members = members.where(~access_clause(Membership.id, org_id))
        granted = _record_members(event, members)
    if not granted:
        db.session.delete(event)
        return 0
    # The new members' bits, added block by block (OR; they had none).
    new = select(literal(org_id), AuditMemberBlock.block, AuditMemberBlock.bits, AuditMemberBlock.members).where(
        AuditMemberBlock.event_id == event.id
    )
    upsert = dialect_insert(AccessBlock).from_select(["org_id", "block", "bits", "members"], new)
    db.session.execute(
        upsert.on_conflict_do_update(
            index_elements=["org_id", "block"],
            set_={
                "bits": AccessBlock.bits.bitwise_or(upsert.excluded.bits),
                "members": AccessBlock.members + upsert.excluded.members,
            },
        )
    )
    event.target = str(granted)
    event.details = {"count": granted}
    return granted


@dataclass(frozen=True)
class Revoked:
    """What revoke_access did: members who lost access, sends cancelled, and
    who has access now (counted under the lock, so the page after needs no
    count of its own)."""

    members: int
    cancelled: int
    access: AccessState


def revoke_access(org_id: int, actor_id: int, selected_ids) -> Revoked:
    """Take access from the selected members and cancel, in the same
    transaction, every invitation and reminder they have scheduled."""
    _lock_organization(org_id)
    event = record_audit(org_id, actor_id, AuditAction.ACCESS_REVOKED)
    db.session.flush()
    members = _selected(org_id, selected_ids)
    before = access_state(org_id)
    if before.extent is AccessExtent.NONE:
        members = members.where(false())
    elif before.extent is AccessExtent.SOME:  # when all have access, nobody needs checking
        members = members.where(access_clause(Membership.id, org_id))
    removed = _record_members(event, members)
    if not removed:
        db.session.delete(event)
        return Revoked(0, 0, before)
    # Their scheduled sends: the organization's few, matched against the event's bits.
    theirs = select(ScheduledSend.membership_id).where(
        ScheduledSend.org_id == org_id,
        contains(AuditMemberBlock, ScheduledSend.membership_id, AuditMemberBlock.event_id == event.id),
    )
    cancelled = cancel_scheduled_sends(org_id, reason=CancelReason.ACCESS_REVOKED, membership_ids=theirs)
    # Their bits taken out, block by block (AND NOT; UPDATE … FROM the
    # event's blocks), and emptied blocks dropped.
    db.session.execute(
        update(AccessBlock)
        .where(
            AccessBlock.org_id == org_id,
            AuditMemberBlock.event_id == event.id,
            AuditMemberBlock.block == AccessBlock.block,
        )
        .values(
            bits=AccessBlock.bits.bitwise_and(AuditMemberBlock.bits.bitwise_not()),
            members=AccessBlock.members - AuditMemberBlock.members,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(AccessBlock)
        .where(AccessBlock.org_id == org_id, AccessBlock.members <= 0)
        .execution_options(synchronize_session=False)
    )
    event.target = str(removed)
    event.details = {"count": removed, "cancelled_sends": cancelled}
    return Revoked(removed, cancelled, AccessState(before.granted - removed, before.members))
