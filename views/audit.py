"""The audit log: every change to the integration and to access, newest first."""

from flask import g, render_template, request
from sqlalchemy import func, select

from models import AuditEvent, AuditEventMember, User, db
from views.forms import small_int
from views.org_scope import admin_required, org_blueprint

bp = org_blueprint("audit", __name__, "/settings/audit")
PER_PAGE = 50
NAMES_PER_EVENT = 5
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
    return render_template(
        "settings/audit.html", events=events, names=member_names([e.id for e in events]), page=page, has_next=has_next
    )


def member_names(event_ids: list[int]) -> dict[int, list[str]]:
    """The first few members' names of each event (an event may concern 100,000)."""
    if not event_ids:
        return {}
    ranked = (
        select(
            AuditEventMember.event_id,
            User.name,
            func.row_number().over(partition_by=AuditEventMember.event_id, order_by=User.name).label("n"),
        )
        .join(User, User.id == AuditEventMember.user_id)
        .where(AuditEventMember.event_id.in_(event_ids))
        .subquery()
    )
    names: dict[int, list[str]] = {}
    for event_id, name, _ in db.session.execute(select(ranked).where(ranked.c.n <= NAMES_PER_EVENT)):
        names.setdefault(event_id, []).append(name)
    return names
