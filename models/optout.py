"""A citizen's "no surveys from this organization": kept by the HMAC of
their CPR number (the same as `Recipient.cpr_hmac`), never the number, so
that every later share of every member leaves them out. Said and taken back
through any personal link of theirs (views/respond.py); the worker leaves
them out of every round (`jobs.sending`), and a share's summary counts them.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import UTCDateTime, code_point_text, utcnow
from models.bulk import dialect_insert


class CitizenOptOut(db.Model):
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    cpr_hmac: Mapped[str] = mapped_column(code_point_text(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def opt_out(org_id: int, cpr_hmac: str) -> bool:
    """True when this is new (a second "no" changes nothing)."""
    return bool(
        db.session.execute(
            dialect_insert(CitizenOptOut)
            .values(org_id=org_id, cpr_hmac=cpr_hmac, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["org_id", "cpr_hmac"])
        ).rowcount
    )


def withdraw_opt_out(org_id: int, cpr_hmac: str) -> bool:
    return bool(
        db.session.execute(
            delete(CitizenOptOut).where(CitizenOptOut.org_id == org_id, CitizenOptOut.cpr_hmac == cpr_hmac)
        ).rowcount
    )


def is_opted_out(org_id: int, cpr_hmac: str) -> bool:
    return db.session.get(CitizenOptOut, (org_id, cpr_hmac)) is not None


def opted_out_hmacs(org_id: int):
    """A subquery of the organization's opted-out HMACs, for `IN`."""
    return select(CitizenOptOut.cpr_hmac).where(CitizenOptOut.org_id == org_id)
