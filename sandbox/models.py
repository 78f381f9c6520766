"""The sandbox's own tables, in its own SQLite file (not Postbud's database)."""

from datetime import datetime, timedelta, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

db = SQLAlchemy()


class DeliveredMessage(db.Model):
    __tablename__ = "sandbox_message"
    __table_args__ = (Index("ix_sandbox_message_recipient", "recipient_cpr", "received_at"),)

    message_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(64))  # a hash, not the key
    sender_cvr: Mapped[str] = mapped_column(String(8))
    sender_name: Mapped[str] = mapped_column(String(256))
    # Ten digits: Digital Post knows whom it delivered to. Never in a URL.
    recipient_cpr: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)  # the main document's text ("" for a PDF)
    body_format: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(256), default="")
    document: Mapped[bytes | None] = mapped_column(LargeBinary)  # a PDF main document, as sent
    language: Mapped[str] = mapped_column(String(2))
    actions: Mapped[list] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC (SQLite)
    delivery_delay_ms: Mapped[int] = mapped_column(default=0)

    @classmethod
    def of_letter(cls, letter, sender_key_id: str, delivery_delay_ms: int) -> "DeliveredMessage":
        """A letter the sandbox took (sandbox/memo_rules.Letter), as its mailbox keeps it."""
        main = letter.documents[0]
        return cls(
            message_uuid=letter.message_uuid,
            api_key_id=sender_key_id,
            sender_cvr=letter.sender_cvr,
            sender_name=letter.sender_name,
            recipient_cpr=letter.recipient_cpr,
            label=letter.label,
            body=main.text or "",
            body_format=main.encoding_format,
            filename=main.filename,
            document=None if main.text is not None else main.content,
            language=main.language,
            actions=list(letter.actions),
            content_hash=letter.content_hash(),
            received_at=datetime.now(timezone.utc).replace(tzinfo=None),
            delivery_delay_ms=delivery_delay_ms,
        )

    @property
    def delivered_at(self) -> datetime:
        return (self.received_at + timedelta(milliseconds=self.delivery_delay_ms)).replace(tzinfo=timezone.utc)

    def is_delivered(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(timezone.utc)) >= self.delivered_at

    @property
    def is_pdf(self) -> bool:
        return self.body_format == "application/pdf"

    @property
    def loopback_links(self) -> bool:
        """Links the real Digital Post would refuse (http:// to this machine),
        let through for development only."""
        return any((a.get("url") or "").startswith("http://") for a in self.actions)

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
            "filename": self.filename,
            "language": self.language,
            "actions": self.actions,
            "loopbackLinks": self.loopback_links,
            "receivedAt": self.delivered_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


class PrintedLetter(db.Model):
    """A letter fjernprint printed and posted: the sandbox's "printed" tray."""

    __tablename__ = "sandbox_printed"
    __table_args__ = (Index("ix_sandbox_printed_recipient", "recipient_cpr", "received_at"),)

    message_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    sender_cvr: Mapped[str] = mapped_column(String(8))
    sender_name: Mapped[str] = mapped_column(String(256))
    recipient_cpr: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(256))
    print_type: Mapped[int] = mapped_column()
    post_category: Mapped[str] = mapped_column(String(20))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC (SQLite)

    def tray_json(self) -> dict:
        return {
            "messageUUID": self.message_uuid,
            "senderCVR": self.sender_cvr,
            "senderName": self.sender_name,
            "title": self.title,
            "printType": self.print_type,
            "postCategory": self.post_category,
            "pages": self.pdf.count(b"/Type /Page") - self.pdf.count(b"/Type /Pages"),
            "bytes": len(self.pdf),
            "receivedAt": self.received_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
