"""The organization's protection of citizens, set by an admin: the sentence
every letter gives as the reason for it, how many survey letters one
citizen may get from the organization in a period (the contact cap), and
how many recipients a member and the organization may send to in a day
before a share waits for an admin's approval, and how long unfinished
drafts are kept.

An organization without a row has the defaults (`policy_of`); `set_policy`
is the only writer, and records what changed in the audit log.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.audit import AuditAction, record_audit
from models.base import UTCDateTime, utcnow

PURPOSE_MAX = 300
CAP_INVITATIONS = 2
CAP_LETTERS = 4
CAP_DAYS = 30
CAP_DAYS_MAX = 365
DAILY_PER_MEMBER = 20_000
DAILY_PER_ORG = 200_000
DRAFT_DAYS = 30
DRAFT_DAYS_MAX = 365


class CitizenPolicy(db.Model):
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    # Why the organization sends survey letters, in its own words; per language (English falls back to Danish).
    purpose_da: Mapped[str] = mapped_column(String(PURPOSE_MAX), default="")
    purpose_en: Mapped[str] = mapped_column(String(PURPOSE_MAX), default="")
    # At most cap_invitations invitations and cap_letters letters (invitations
    # and reminders) to one citizen within cap_days.
    cap_invitations: Mapped[int] = mapped_column(default=CAP_INVITATIONS)
    cap_letters: Mapped[int] = mapped_column(default=CAP_LETTERS)
    cap_days: Mapped[int] = mapped_column(default=CAP_DAYS)
    # Recipients a day (Copenhagen time) before a share waits for approval.
    daily_per_member: Mapped[int] = mapped_column(default=DAILY_PER_MEMBER)
    daily_per_org: Mapped[int] = mapped_column(default=DAILY_PER_ORG)
    # An unfinished draft (its recipients' CPRs with it) is deleted this many days after it was started.
    draft_days: Mapped[int] = mapped_column(default=DRAFT_DAYS, server_default=str(DRAFT_DAYS))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def purpose(self, language: str) -> str:
        return (self.purpose_en if language == "en" else "") or self.purpose_da


FIELDS = (
    "purpose_da",
    "purpose_en",
    "cap_invitations",
    "cap_letters",
    "cap_days",
    "daily_per_member",
    "daily_per_org",
    "draft_days",
)


def policy_of(org_id: int) -> CitizenPolicy:
    """The organization's policy; the defaults (not added to the session)
    when the admin has set none."""
    found = db.session.get(CitizenPolicy, org_id)
    if found is not None:
        return found
    return CitizenPolicy(
        org_id=org_id,
        purpose_da="",
        purpose_en="",
        cap_invitations=CAP_INVITATIONS,
        cap_letters=CAP_LETTERS,
        cap_days=CAP_DAYS,
        daily_per_member=DAILY_PER_MEMBER,
        daily_per_org=DAILY_PER_ORG,
        draft_days=DRAFT_DAYS,
    )


@dataclass(frozen=True)
class PolicyChange:
    changed: tuple[str, ...]


def set_policy(org_id: int, actor_id: int, **values) -> PolicyChange:
    """Save the policy in the caller's transaction; the audit says which
    settings changed, and to what (the sentences only as changed)."""
    policy = db.session.get(CitizenPolicy, org_id)
    if policy is None:
        policy = policy_of(org_id)
        db.session.add(policy)
    changed = tuple(name for name in FIELDS if name in values and getattr(policy, name) != values[name])
    for name in changed:
        setattr(policy, name, values[name])
    if changed:
        policy.updated_at = utcnow()
        details = {name: values[name] for name in changed if not name.startswith("purpose")}
        record_audit(org_id, actor_id, AuditAction.POLICY_CHANGED, changed=list(changed), **details)
    return PolicyChange(changed)
