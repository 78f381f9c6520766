"""The audit log: every change to the integration and to access, and every
deletion of a share's CPR numbers (with its receipt), newest first."""

from flask import abort, g, render_template, request

from models import Share, db
from models.audit import AuditKind, audit_page
from models.base import PER_PAGE
from models.deletions import receipt_of
from views.forms import small_int
from views.org_scope import admin_required, org_blueprint
from views.rendering import pdf_download

bp = org_blueprint("audit", __name__, "/settings/audit")
MAX_PAGE = 100_000  # beyond any real log; keeps OFFSET within the databases' integers


@bp.get("/")
@admin_required
def index():
    page = max(1, min(request.args.get("page", 1, type=small_int), MAX_PAGE))
    kind = request.args.get("kind", "")
    kind = AuditKind(kind) if kind in AuditKind._value2member_map_ else None
    events, has_next = audit_page(g.org.id, kind, page, PER_PAGE)
    return render_template(
        "settings/audit.html", events=events, page=page, has_next=has_next, kind=kind, kinds=list(AuditKind)
    )


@bp.get("/deletion-receipts/<int:share_id>")
@admin_required
def deletion_receipt(share_id):
    share = db.session.get(Share, share_id)
    if share is None or share.org_id != g.org.id:
        abort(404)
    return pdf_download(receipt_of(share), f"postbud-deletion-receipt-{share.id}.pdf")
