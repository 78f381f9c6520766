"""Receipts: what the message broker (Beskedfordeleren) says became of a
letter sent through SF1601, as PKO_PostStatus events.

An event names the letter by its messageUUID, which the worker wrote on the
delivery before it sent it (models/sharing/rounds.record_message_uuids). Events may
come twice, late or out of order: a receipt only moves forward (received,
then delivered or failed), and a final one is never replaced, so any order
of the same events leaves the same state. An event for a messageUUID that
Postbud did not send through SF1601 changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy import and_, or_, select, update

from digitalpost.transport import TransportKind
from extensions import db
from models.integration import DigitalPostIntegration
from models.sharing import (
    Delivery,
    DeliveryState,
    Receipt,
    Recipient,
    RecipientState,
    RoundKind,
    ScheduledSend,
    SendError,
)

TEXT_MAX = 256
CODE_MAX = 40


class ReceiptOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # a repeat, or older than what is known
    UNKNOWN = "unknown"  # no delivery sent through SF1601 has this messageUUID
    NOT_YET = "not_yet"  # the letter is on its way and its sending not yet recorded: ask again
    IGNORED = "ignored"  # a status this version does not act on


@dataclass(frozen=True)
class PostStatus:
    message_uuid: str
    receipt: Receipt | None
    at: datetime
    code: str | None = None
    text: str | None = None

    @classmethod
    def parse(cls, event: dict) -> "PostStatus":
        """A PKO_PostStatus event (its JSON form); ValueError when it is not one."""
        if not isinstance(event, dict):
            raise ValueError("not an object")
        message_uuid = str(event.get("MessageUUID") or "").strip().lower()
        status = str(event.get("TransaktionsStatusKode") or "").strip()
        if len(message_uuid) != 36 or not status:
            raise ValueError("MessageUUID and TransaktionsStatusKode are required")
        moment = str(event.get("TransaktionsDatoTid") or "")
        try:
            at = datetime.fromisoformat(moment.replace("Z", "+00:00")) if moment else datetime.now(timezone.utc)
        except ValueError:
            raise ValueError("TransaktionsDatoTid is not a time") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        details = event.get("FejlDetaljer") if isinstance(event.get("FejlDetaljer"), dict) else {}
        return cls(
            message_uuid=message_uuid,
            receipt=receipt_of(status),
            at=at.astimezone(timezone.utc),
            code=(str(details.get("FejlKode") or "")[:CODE_MAX] or None),
            text=(str(details.get("FejlTekst") or "")[:TEXT_MAX] or None),
        )


def receipt_of(status: str) -> Receipt | None:
    """TransaktionsStatusKode: "Modtaget …", "Afleveret …" (Digital Post or
    Fysisk Post), "Fejlet"."""
    word = status.split(" ", 1)[0].lower()
    return {"modtaget": Receipt.RECEIVED, "afleveret": Receipt.DELIVERED, "fejlet": Receipt.FAILED}.get(word)


def record_receipt(status: PostStatus) -> ReceiptOutcome:
    """Apply one event to its delivery and recipient, in the caller's transaction."""
    if status.receipt is None:
        return ReceiptOutcome.IGNORED
    row = db.session.execute(
        select(Delivery.id, Delivery.recipient_id, Delivery.state, ScheduledSend.kind)
        .join(ScheduledSend, ScheduledSend.id == Delivery.round_id)
        .join(DigitalPostIntegration, DigitalPostIntegration.org_id == ScheduledSend.org_id)
        .where(Delivery.message_uuid == status.message_uuid, DigitalPostIntegration.transport == TransportKind.SF1601)
    ).first()
    if row is None:
        return ReceiptOutcome.UNKNOWN
    if row.state == DeliveryState.PENDING:
        # The worker records a chunk's outcomes after the chunk: a receipt can
        # come first. The broker delivers it again.
        return ReceiptOutcome.NOT_YET
    # Forward only: nothing known yet, or "received" and now something final.
    moves_forward = or_(Delivery.receipt.is_(None), and_(Delivery.receipt == Receipt.RECEIVED, status.receipt.is_final))
    values = {"receipt": status.receipt, "receipt_at": status.at}
    if status.receipt == Receipt.FAILED:
        values.update(receipt_code=status.code, receipt_text=status.text)
        values.update(state=DeliveryState.FAILED, error=SendError.DELIVERY_FAILED)
    elif status.receipt == Receipt.DELIVERED:
        values["delivered_at"] = status.at
    applied = db.session.execute(
        update(Delivery)
        .where(Delivery.id == row.id, moves_forward, Delivery.state == DeliveryState.SENT)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not applied:
        return ReceiptOutcome.UNCHANGED
    if row.kind == RoundKind.INVITATION and status.receipt.is_final:
        delivered = status.receipt == Receipt.DELIVERED
        db.session.execute(
            update(Recipient)
            .where(Recipient.id == row.recipient_id, Recipient.state == RecipientState.SENT)
            .values(
                state=RecipientState.DELIVERED if delivered else RecipientState.FAILED,
                **({} if delivered else {"error": SendError.DELIVERY_FAILED}),
            )
            .execution_options(synchronize_session=False)
        )
    return ReceiptOutcome.APPLIED
