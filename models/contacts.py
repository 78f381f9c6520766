"""The contact cap: how many survey letters one citizen has had from the
organization lately, kept by the HMAC of their CPR number (as
`Recipient.cpr_hmac`), never the number. The worker counts before each
chunk and records each letter sent in the transaction that records the
delivery; a share's summary counts who would be left out; the worker's
housekeeping deletes entries older than the organization's period.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, case, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import UTCDateTime, code_point_text, utcnow
from models.bulk import dialect_insert
from models.optout import CitizenOptOut
from models.policy import CAP_DAYS, CitizenPolicy, policy_of
from models.sharing import Recipient
from models.sharing.recipients import listed


class CitizenContact(db.Model):
    __table_args__ = (Index("ix_citizen_contact_org_hmac_time", "org_id", "cpr_hmac", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    cpr_hmac: Mapped[str] = mapped_column(code_point_text(64))
    invitation: Mapped[bool]  # else a reminder
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # One entry per delivery: a repeated record of the same letter adds none.
    delivery_id: Mapped[int] = mapped_column(unique=True)


@dataclass(frozen=True)
class Cap:
    invitations: int
    letters: int
    days: int

    @classmethod
    def of(cls, policy: CitizenPolicy) -> "Cap":
        return cls(policy.cap_invitations, policy.cap_letters, policy.cap_days)

    def since(self, now: datetime | None = None) -> datetime:
        return (now or utcnow()) - timedelta(days=self.days)

    def allows(self, invitation: bool, had: tuple[int, int]) -> bool:
        invitations, letters = had
        return letters < self.letters and (not invitation or invitations < self.invitations)


def contacts_of(org_id: int, hmacs, since: datetime) -> dict[str, tuple[int, int]]:
    """(invitations, letters) since the time, per HMAC; hmacs is a list or a subquery."""
    rows = db.session.execute(
        select(
            CitizenContact.cpr_hmac,
            func.sum(case((CitizenContact.invitation, 1), else_=0)),
            func.count(),
        )
        .where(CitizenContact.org_id == org_id, CitizenContact.cpr_hmac.in_(hmacs), CitizenContact.sent_at >= since)
        .group_by(CitizenContact.cpr_hmac)
    ).all()
    found = defaultdict(lambda: (0, 0))
    found.update({hmac: (int(invitations or 0), letters) for hmac, invitations, letters in rows})
    return found


def over_cap_count(org_id: int, hmacs, cap: Cap) -> int:
    """How many of the HMACs an invitation now would take over the cap."""
    return db.session.scalar(
        select(func.count()).select_from(
            select(CitizenContact.cpr_hmac)
            .where(
                CitizenContact.org_id == org_id,
                CitizenContact.cpr_hmac.in_(hmacs),
                CitizenContact.sent_at >= cap.since(),
            )
            .group_by(CitizenContact.cpr_hmac)
            .having(
                (func.count() >= cap.letters)
                | (func.sum(case((CitizenContact.invitation, 1), else_=0)) >= cap.invitations)
            )
            .subquery()
        )
    )


def record_contacts(org_id: int, invitation: bool, sent: list[tuple[int, str]], at: datetime) -> None:
    """[(delivery_id, cpr_hmac)] of letters just sent."""
    if not sent:
        return
    db.session.execute(
        dialect_insert(CitizenContact)
        .values(
            [
                {"org_id": org_id, "cpr_hmac": h, "invitation": invitation, "sent_at": at, "delivery_id": d}
                for d, h in sent
            ]
        )
        .on_conflict_do_nothing(index_elements=["delivery_id"])
    )


def expire_contacts(now: datetime | None = None) -> int:
    """Delete entries older than their organization's period."""
    now = now or utcnow()
    deleted = 0
    periods = dict(db.session.execute(select(CitizenPolicy.org_id, CitizenPolicy.cap_days)).all())
    for org_id in db.session.scalars(select(CitizenContact.org_id).distinct()).all():
        before = now - timedelta(days=periods.get(org_id, CAP_DAYS))
        deleted += db.session.execute(
            delete(CitizenContact).where(CitizenContact.org_id == org_id, CitizenContact.sent_at < before)
        ).rowcount
    return deleted


def left_out_counts(share) -> dict[str, int]:
    """For a draft's summary: how many listed recipients the worker will leave
    out, as things stand now (it counts again when it sends)."""
    hmacs = select(Recipient.cpr_hmac).where(listed(share.id)).scalar_subquery()
    opted = db.session.scalar(
        select(func.count())
        .select_from(CitizenOptOut)
        .where(CitizenOptOut.org_id == share.org_id, CitizenOptOut.cpr_hmac.in_(hmacs))
    )
    cap = Cap.of(policy_of(share.org_id))
    return {"opted_out": opted, "capped": over_cap_count(share.org_id, hmacs, cap), "cap": cap}
