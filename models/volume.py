"""Daily volume: how many recipients a member, and the organization, send
invitations to on one day (Copenhagen time). A share that would take either
over the admin's limit (models/policy.py) is held when it is confirmed: its
rounds wait, unqueued, until an admin approves it (they are then scheduled)
or rejects it (they are cancelled, and its CPRs deleted). Both are audited.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select, update

from extensions import db
from models.audit import AuditAction, record_audit
from models.base import utcnow
from models.policy import policy_of
from models.sharing import CancelReason, Recipient, RoundKind, ScheduledSend, SendState, Share
from models.sharing.lifecycle import cancel_scheduled_sends
from models.sharing.recipients import recipient_count
from models.sharing.schedule import LOCAL

# Rounds whose recipients count towards their day: all but the cancelled and failed.
COUNTED = (SendState.SCHEDULED, SendState.RUNNING, SendState.DONE, SendState.HELD)


@dataclass(frozen=True)
class Volume:
    recipients: int  # this share's
    member_day: int  # the member's other shares that day
    org_day: int  # the organization's other shares that day
    member_limit: int
    org_limit: int

    @property
    def over(self) -> bool:
        return self.member_day + self.recipients > self.member_limit or self.org_day + self.recipients > self.org_limit


def day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The Copenhagen day of the moment, as UTC instants [start, end)."""
    day = moment.astimezone(LOCAL).date()
    start = datetime.combine(day, time(0), tzinfo=LOCAL)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL)


def volume_of(share: Share, invitation_at: datetime) -> Volume:
    start, end = day_bounds(invitation_at)
    that_day = select(ScheduledSend.share_id).where(
        ScheduledSend.org_id == share.org_id,
        ScheduledSend.kind == RoundKind.INVITATION,
        ScheduledSend.state.in_(COUNTED),
        ScheduledSend.send_at >= start,
        ScheduledSend.send_at < end,
        ScheduledSend.share_id != share.id,
    )
    mine = that_day.where(ScheduledSend.membership_id == share.membership_id)

    def recipients_of(shares) -> int:
        return db.session.scalar(select(func.count()).select_from(Recipient).where(Recipient.share_id.in_(shares)))

    policy = policy_of(share.org_id)
    return Volume(
        recipients=recipient_count(share.id),
        member_day=recipients_of(mine),
        org_day=recipients_of(that_day),
        member_limit=policy.daily_per_member,
        org_limit=policy.daily_per_org,
    )


def hold_if_over(share: Share, rounds: list[ScheduledSend], actor_id: int | None) -> Volume | None:
    """Called as a share is confirmed, in its transaction: hold its rounds
    when it would pass a daily volume. Returns the volume when held."""
    invitation = next((r for r in rounds if r.kind == RoundKind.INVITATION), None)
    if invitation is None:
        return None
    volume = volume_of(share, invitation.send_at)
    if not volume.over:
        return None
    for r in rounds:
        r.state = SendState.HELD
    record_audit(
        share.org_id,
        actor_id,
        AuditAction.SHARE_HELD,
        target=f"share:{share.id}",
        share_id=share.id,
        survey=share.survey.title,
        count=volume.recipients,
        member_day=volume.member_day,
        org_day=volume.org_day,
    )
    return volume


def held_shares(org_id: int) -> list[Share]:
    held = select(ScheduledSend.share_id).where(ScheduledSend.org_id == org_id, ScheduledSend.state == SendState.HELD)
    return db.session.scalars(select(Share).where(Share.id.in_(held)).order_by(Share.confirmed_at)).all()


def approve_share(share: Share, admin_id: int) -> list[ScheduledSend]:
    """Schedule the held rounds (the caller enqueues them after commit). A
    round whose time has passed goes at once. Returns the rounds; none when
    another admin was first."""
    ids = db.session.scalars(
        update(ScheduledSend)
        .where(ScheduledSend.share_id == share.id, ScheduledSend.state == SendState.HELD)
        .values(state=SendState.SCHEDULED)
        .returning(ScheduledSend.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ids:
        return []
    _audit_decision(share, admin_id, AuditAction.SHARE_APPROVED)
    rounds = db.session.scalars(select(ScheduledSend).where(ScheduledSend.id.in_(ids))).all()
    now = utcnow()
    for r in rounds:
        db.session.refresh(r)
        if r.send_at < now:
            r.send_at = now
    return rounds


def reject_share(share: Share, admin_id: int) -> int:
    """Cancel the held rounds; the share's CPRs go with them."""
    cancelled = cancel_scheduled_sends(share.org_id, CancelReason.NOT_APPROVED, share_ids=[share.id], held=True)
    if cancelled:
        _audit_decision(share, admin_id, AuditAction.SHARE_REJECTED)
    return cancelled


def _audit_decision(share: Share, admin_id: int, action: AuditAction) -> None:
    record_audit(
        share.org_id,
        admin_id,
        action,
        target=f"share:{share.id}",
        share_id=share.id,
        survey=share.survey.title,
        count=recipient_count(share.id),
    )
