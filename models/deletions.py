"""Deletion receipts: each time a share's CPR numbers (and the background
variables beside them) are deleted, a row says when, how many, and by which
rule, and the audit log says it too. The member who sent the share and the
organization's admins can download the receipt as a PDF.

`models.sharing.forget_cprs` is the only writer (through `record_deletion`).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flask_babel import gettext as _
from fpdf import FPDF
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from formats import number, when
from models.audit import AuditAction, record_audit
from models.base import UTCDateTime, utcnow
from models.paper import printable
from models.sharing import CancelReason, Recipient


class DeletionRule(StrEnum):
    SENDING_OVER = "sending_over"  # the last round is done
    CANCELLED = "cancelled"  # what was scheduled was cancelled
    RETRY_OVER = "retry_over"  # CPRs kept to send again to failed recipients, no longer needed

    def describe(self, cancel_reason: str | None = None, retry_days: int = 7) -> str:
        if self is DeletionRule.CANCELLED:
            return _("What was scheduled was cancelled (%(reason)s).", reason=CancelReason.label_of(cancel_reason))
        if self is DeletionRule.RETRY_OVER:
            return _(
                "The CPR numbers of recipients whose letter failed were kept for up to %(days)d days, "
                "so that the letter could be sent again; that is over.",
                days=retry_days,
            )
        return _("Nothing more was to be sent: CPR numbers are deleted when a share's last letter has gone.")


class CprDeletion(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"), index=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cprs: Mapped[int] = mapped_column(default=0)  # encrypted CPR numbers deleted
    variables: Mapped[int] = mapped_column(default=0)  # recipients whose background variables were deleted
    rule: Mapped[str] = mapped_column(String(20))
    cancel_reason: Mapped[str | None] = mapped_column(String(40))

    @property
    def rule_text(self) -> str:
        return DeletionRule(self.rule).describe(self.cancel_reason)


def record_deletion(share, cprs: int, variables: int, cancel_reason: str | None) -> CprDeletion | None:
    """Record one deletion of the share's CPRs, with its audit event, in the
    caller's transaction. The rule follows from what came before: a second
    deletion is of the CPRs kept for a retry."""
    if not cprs and not variables:
        return None
    earlier = db.session.scalar(select(CprDeletion.id).where(CprDeletion.share_id == share.id).limit(1))
    if earlier is not None:
        rule = DeletionRule.RETRY_OVER
    else:
        rule = DeletionRule.CANCELLED if cancel_reason else DeletionRule.SENDING_OVER
    deletion = CprDeletion(share_id=share.id, cprs=cprs, variables=variables, rule=rule, cancel_reason=cancel_reason)
    db.session.add(deletion)
    record_audit(
        share.org_id,
        None,
        AuditAction.CPRS_DELETED,
        target=f"share:{share.id}",
        share_id=share.id,
        survey=share.survey.title,
        count=cprs,
        variables=variables,
        rule=rule.value,
        cancel_reason=cancel_reason,
    )
    return deletion


def deletions_of(share_id: int) -> list[CprDeletion]:
    return db.session.scalars(
        select(CprDeletion).where(CprDeletion.share_id == share_id).order_by(CprDeletion.deleted_at, CprDeletion.id)
    ).all()


@dataclass(frozen=True)
class ReceiptFacts:
    organization: str
    survey: str
    share_id: int
    sender: str
    confirmed_at: datetime | None
    recipients: int


def receipt_pdf(facts: ReceiptFacts, deletions: list[CprDeletion], made_at: datetime) -> bytes:
    """The receipt, in the current language."""
    pdf = FPDF(format="A4", unit="mm")
    title = _("Receipt for the deletion of CPR numbers")
    pdf.set_title(printable(title))
    pdf.set_creator("Postbud")
    pdf.set_creation_date(made_at)
    pdf.set_margins(22, 22, 22)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, printable(title), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 10.5)
    for label, value in [
        (_("Organization"), facts.organization),
        (_("Survey"), facts.survey),
        (_("Share no."), f"#{facts.share_id}"),
        (_("Sent by"), facts.sender),
        (_("Confirmed"), when(facts.confirmed_at) or "-"),
        (_("Recipients"), number(facts.recipients)),
    ]:
        pdf.set_font("Helvetica", "B", 10.5)
        pdf.cell(42, 6, printable(label))
        pdf.set_font("Helvetica", "", 10.5)
        pdf.multi_cell(0, 6, printable(value), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(4)
    for deletion in deletions:
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(
            0, 6.5, printable(when(deletion.deleted_at, long=True)), new_x="LMARGIN", new_y="NEXT", align="L"
        )
        pdf.set_font("Helvetica", "", 10.5)
        lines = [
            _("CPR numbers deleted: %(n)s", n=number(deletion.cprs)),
            _("Recipients whose background variables were deleted: %(n)s", n=number(deletion.variables)),
            _("Rule: %(rule)s", rule=deletion.rule_text),
        ]
        for line in lines:
            pdf.multi_cell(0, 5.5, printable(line), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(3)
    if not deletions:
        pdf.multi_cell(0, 5.5, printable(_("No CPR numbers of this share have been deleted yet.")), align="L")
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 9)
    footer = [
        _(
            "The CPR numbers were stored encrypted, apart from the recipients' names. Names, states "
            "and answers are kept; the deleted numbers cannot be recovered by Postbud."
        ),
        _("Made %(when)s. The deletions are also recorded in the organization's audit log.", when=when(made_at)),
    ]
    for line in footer:
        pdf.multi_cell(0, 4.8, printable(line), new_x="LMARGIN", new_y="NEXT", align="L")
    return bytes(pdf.output())


def receipt_of(share) -> bytes:
    """The share's deletion receipt as a PDF, in the current language."""
    membership = share.membership
    sender = membership.user.name if membership is not None and membership.user is not None else "-"
    recipients = db.session.scalar(select(func.count()).select_from(Recipient).where(Recipient.share_id == share.id))
    facts = ReceiptFacts(
        organization=share.survey.organization.name,
        survey=share.survey.title,
        share_id=share.id,
        sender=sender,
        confirmed_at=share.confirmed_at,
        recipients=recipients,
    )
    return receipt_pdf(facts, deletions_of(share.id), utcnow())
