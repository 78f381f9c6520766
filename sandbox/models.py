"""The sandbox's own tables, in its own SQLite file (not Postbud's database)."""

from datetime import datetime, timedelta, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

db = SQLAlchemy()


class DeliveredMessage(db.Model):
    __tablename__ = "sandbox_message"
    __table_args__ = (Index("ix_sandbox_message_recipient", "recipient_cpr", "received_at"),)

    message_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(64))  # a hash, not the key
    sender_cvr: Mapped[str] = mapped_column(String(8))
    sender_name: Mapped[str] = mapped_column(String(255))
    recipient_cpr: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    body_format: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2))
    actions: Mapped[list] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC (SQLite)
    delivery_delay_ms: Mapped[int] = mapped_column(default=0)

    @property
    def delivered_at(self) -> datetime:
        return (self.received_at + timedelta(milliseconds=self.delivery_delay_ms)).replace(tzinfo=timezone.utc)

    def is_delivered(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(timezone.utc)) >= self.delivered_at

    def status_json(self) -> dict:
        delivered = self.is_delivered()
        return {
            "messageUUID": self.message_uuid,
            "status": "delivered" if delivered else "accepted",
            "deliveredAt": self.delivered_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if delivered else None,
        }

    def mailbox_json(self) -> dict:
        return {
            "messageUUID": self.message_uuid,
            "senderCVR": self.sender_cvr,
            "senderName": self.sender_name,
            "label": self.label,
            "text": self.body,
            "format": self.body_format,
            "language": self.language,
            "actions": self.actions,
            "receivedAt": self.delivered_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
