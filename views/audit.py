"""The audit log: every change to the integration and to access, newest first."""

from flask import g, render_template, request
from sqlalchemy import select

from models import AuditEvent, db
from views.forms import small_int
from views.org_scope import admin_required, org_blueprint

bp = org_blueprint("audit", __name__, "/settings/audit")
PER_PAGE = 50
MAX_PAGE = 100_000  # beyond any real log; keeps OFFSET within the databases' integers


@bp.get("/")
@admin_required
def index():
    page = max(1, min(request.args.get("page", 1, type=small_int), MAX_PAGE))
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.org_id == g.org.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(PER_PAGE + 1)
        .offset((page - 1) * PER_PAGE)
    ).all()
    has_next = len(events) > PER_PAGE
    events = events[:PER_PAGE]
    return render_template("settings/audit.html", events=events, page=page, has_next=has_next)
