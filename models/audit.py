"""AuditEvent: every change to the integration and to access, for admins to read."""

from datetime import datetime
from enum import StrEnum

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from formats import number, plural, when
from models.base import UTCDateTime, utcnow


class AuditAction(StrEnum):
    VERIFICATION_STARTED = "integration.verification_started"
    ACTIVATED = "integration.activated"
    SETTINGS_CHANGED = "integration.settings_changed"
    DEACTIVATED = "integration.deactivated"
    PAPER_POLICY_CHANGED = "integration.paper_policy_changed"
    ACCESS_GRANTED = "access.granted"
    ACCESS_REVOKED = "access.revoked"
    CPRS_DELETED = "share.cprs_deleted"
    POLICY_CHANGED = "policy.changed"
    SHARE_CONFIRMED = "share.confirmed"
    SHARE_HELD = "share.held"
    SHARE_APPROVED = "share.approved"
    SHARE_REJECTED = "share.rejected"
    ROUND_CHANGED = "share.round_changed"
    REMINDER_CANCELLED = "share.reminder_cancelled"

    def describe(self, d: dict) -> str:
        """The line the audit log shows, from the event's details."""
        count = d.get("count") or 0
        if self is AuditAction.VERIFICATION_STARTED and d.get("certificate_serial"):
            return _(
                "Started verifying Digital Post settings (CVR %(cvr)s, Serviceplatformen, certificate %(serial)s)",
                cvr=d.get("sender_cvr"),
                serial=d.get("certificate_serial"),
            )
        if self is AuditAction.SETTINGS_CHANGED and d.get("certificate_serial"):
            return _(
                "Changed the Digital Post settings (CVR %(cvr)s, Serviceplatformen, certificate %(serial)s)",
                cvr=d.get("sender_cvr"),
                serial=d.get("certificate_serial"),
            )
        if self is AuditAction.PAPER_POLICY_CHANGED:
            if d.get("allowed"):
                return _("Allowed paper letters to citizens exempt from Digital Post")
            return _("Stopped paper letters to citizens exempt from Digital Post")
        if self is AuditAction.VERIFICATION_STARTED:
            return _(
                "Started verifying Digital Post settings (CVR %(cvr)s, key …%(last4)s)",
                cvr=d.get("sender_cvr"),
                last4=d.get("api_key_last4"),
            )
        if self is AuditAction.ACTIVATED:
            return _("Enabled Digital Post (CVR %(cvr)s)", cvr=d.get("sender_cvr"))
        if self is AuditAction.SETTINGS_CHANGED:
            return _(
                "Changed the Digital Post settings (CVR %(cvr)s, key …%(last4)s)",
                cvr=d.get("sender_cvr"),
                last4=d.get("api_key_last4"),
            )
        if self is AuditAction.DEACTIVATED:
            return _(
                "Deactivated Digital Post; %(n)s scheduled sends cancelled", n=number(d.get("cancelled_sends") or 0)
            )
        if self in (AuditAction.SHARE_HELD, AuditAction.SHARE_APPROVED, AuditAction.SHARE_REJECTED):
            text = {
                AuditAction.SHARE_HELD: _(
                    "A share of “%(survey)s” to %(n)s recipients waits for approval: over the daily volume"
                ),
                AuditAction.SHARE_APPROVED: _(
                    "Approved a share of “%(survey)s” to %(n)s recipients over the daily volume"
                ),
                AuditAction.SHARE_REJECTED: _(
                    "Did not approve a share of “%(survey)s” to %(n)s recipients; it is cancelled"
                ),
            }[self]
            return text % {"survey": d.get("survey", ""), "n": number(count)}
        if self is AuditAction.SHARE_CONFIRMED:
            text = plural(
                "Sent “%(survey)s” to %(num)s recipient through Digital Post",
                "Sent “%(survey)s” to %(num)s recipients through Digital Post",
                count,
                survey=d.get("survey", ""),
            )
            if d.get("first_at"):
                text += " · " + _("first letters %(when)s", when=when(datetime.fromisoformat(d["first_at"])))
            return text
        if self is AuditAction.ROUND_CHANGED:
            times = {}
            if d.get("to_at"):
                times = {
                    "from": when(datetime.fromisoformat(d["from_at"])),
                    "to": when(datetime.fromisoformat(d["to_at"])),
                }
            if times and d.get("texts"):
                what = _("the time, from %(from)s to %(to)s, and the text", **times)
            elif times:
                what = _("the time, from %(from)s to %(to)s", **times)
            else:
                what = _("the text")
            text = (
                _("Changed the invitation of “%(survey)s”: %(what)s")
                if d.get("kind") == "invitation"
                else _("Changed a reminder of “%(survey)s”: %(what)s")
            )
            return text % {"survey": d.get("survey", ""), "what": what}
        if self is AuditAction.REMINDER_CANCELLED:
            return _(
                "Cancelled the reminder of “%(survey)s” at %(when)s",
                survey=d.get("survey", ""),
                when=when(datetime.fromisoformat(d["from_at"])) if d.get("from_at") else "",
            )
        if self is AuditAction.POLICY_CHANGED:
            return _("Changed the protection of citizens: %(what)s", what=policy_changes(d))
        if self is AuditAction.CPRS_DELETED:
            return (
                plural(
                    "Deleted %(num)s CPR number of a share of the survey",
                    "Deleted %(num)s CPR numbers of a share of the survey",
                    count,
                )
                + f" “{d.get('survey', '')}”"
            )
        if self is AuditAction.ACCESS_GRANTED:
            return plural("Gave %(num)s member access", "Gave %(num)s members access", count)
        text = plural("Removed access from %(num)s member", "Removed access from %(num)s members", count)
        if d.get("cancelled_sends"):
            text += "; " + _("%(n)s scheduled sends cancelled", n=number(d["cancelled_sends"]))
        return text


def policy_changes(d: dict) -> str:
    names = {
        "purpose_da": _("the reason in letters (Danish)"),
        "purpose_en": _("the reason in letters (English)"),
        "cap_invitations": _("invitations per citizen: %(n)s", n=d.get("cap_invitations")),
        "cap_letters": _("letters per citizen: %(n)s", n=d.get("cap_letters")),
        "cap_days": _("the period: %(n)s days", n=d.get("cap_days")),
        "daily_per_member": _("recipients a day per member: %(n)s", n=number(d.get("daily_per_member") or 0)),
        "daily_per_org": _("recipients a day for the organization: %(n)s", n=number(d.get("daily_per_org") or 0)),
        "draft_days": _("drafts kept: %(n)s days", n=d.get("draft_days")),
    }
    return ", ".join(str(names[c]) for c in d.get("changed", []) if c in names)


class AuditKind(StrEnum):
    """What the audit log can be filtered by: the actions' first word."""

    INTEGRATION = "integration"
    ACCESS = "access"
    SHARE = "share"
    POLICY = "policy"

    @property
    def label(self) -> str:
        return str(
            {
                AuditKind.INTEGRATION: _l("Digital Post settings"),
                AuditKind.ACCESS: _l("Member access"),
                AuditKind.SHARE: _l("Letters sent"),
                AuditKind.POLICY: _l("Protection of citizens"),
            }[self]
        )


def audit_page(org_id: int, kind: AuditKind | None, page: int, per_page: int) -> tuple[list["AuditEvent"], bool]:
    """One page of the organization's log, newest first, of one kind or
    all; and whether an older page follows."""
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if kind is not None:
        query = query.where(AuditEvent.action.startswith(kind.value + ".", autoescape=True))
    events = db.session.scalars(
        query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    ).all()
    return list(events[:per_page]), len(events) > per_page


class AuditEvent(db.Model):
    __table_args__ = (Index("ix_audit_event_org_time", "org_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The first few names (by name) of the members the event concerns, as
    # they were then; details["count"] says how many there were.
    member_names: Mapped[list | None] = mapped_column(JSON)

    actor = relationship("User", lazy="joined")

    @property
    def receipt_share_id(self) -> int | None:
        """The share whose deletion receipt this event has, if any."""
        if self.action == AuditAction.CPRS_DELETED:
            return (self.details or {}).get("share_id")
        return None

    @property
    def description(self) -> str:
        try:
            return AuditAction(self.action).describe(self.details or {})
        except ValueError:  # an action this version does not know
            return self.action


def record_audit(org_id: int, actor_id: int | None, action: AuditAction, target: str = "", **details) -> AuditEvent:
    """Add an audit event to the current transaction. Never pass secrets or CPRs."""
    event = AuditEvent(org_id=org_id, actor_id=actor_id, action=action, target=target, details=details)
    db.session.add(event)
    return event
