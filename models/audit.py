"""AuditEvent: every change to the integration and to access, for admins to read."""
from datetime import datetime
from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __table_args__ = (Index("ix_audit_event_org_time", "org_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor = relationship("User", lazy="joined")


def record_audit(org_id: int, actor_id: int | None, action: str, target: str = "", **details) -> AuditEvent:
    """Add an audit event to the current transaction. Never pass secrets or CPRs."""
    event = AuditEvent(org_id=org_id, actor_id=actor_id, action=action, target=target, details=details)
    db.session.add(event)
    return event
