"""A confirmed share's status: counts, the recipient table, retry, cancel and
the deletion receipt."""

from datetime import timedelta

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import func, select

from formats import plural
from jobs.sending import enqueue_rounds
from models import Delivery, Recipient, db
from models.access import may_share_via_digital_post
from models.base import PER_PAGE, utcnow
from models.deletions import receipt_of
from models.members import MAX_QUERY
from models.org import fold
from models.schedule import (
    local,
)
from models.sharing import (
    RecipientState,
    SendState,
    cancel_share,
    error_label,
    failure_reasons,
    retry_count,
    retry_failed,
    state_counts,
)
from views.forms import small_int
from views.rendering import add_message, pdf_download, render_fragment
from views.shares import COUNT_CAP, STATUS, bp, own_share

# --- status ------------------------------------------------------------------------

STATE_FILTERS = [s.value for s in RecipientState]
# An anonymous survey's recipients never read "responded": see docs/anonymity.md.
ANONYMOUS_STATE_FILTERS = [s for s in STATE_FILTERS if s != RecipientState.RESPONDED]


def recipient_table(share):
    filters = ANONYMOUS_STATE_FILTERS if share.survey.anonymous else STATE_FILTERS
    state = request.args.get("state", "")
    state = state if state in filters else ""
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    page = max(1, min(request.args.get("page", 1, type=small_int), 10_000))
    query = select(Recipient).where(Recipient.share_id == share.id)  # a confirmed share: all are listed
    if state:
        query = query.where(Recipient.state == state)
    if q:
        query = query.where(Recipient.name_folded.contains(fold(q), autoescape=True))
    rows = db.session.scalars(query.order_by(Recipient.id).limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    capped = query.with_only_columns(Recipient.id).limit(COUNT_CAP + 1).subquery()
    total = db.session.scalar(select(func.count()).select_from(capped))
    return {
        "rows": rows,
        "letters": invitation_letters(share, rows),
        "state": state,
        "q": q,
        "page": page,
        "total": min(total, COUNT_CAP),
        "total_exact": total <= COUNT_CAP,
        "first": (page - 1) * PER_PAGE + 1,
        "has_next": page * PER_PAGE < total,
        "states": filters,
        "state_labels": {s.value: s.label for s in RecipientState},
        "invitation_stopped": share.invitation is not None
        and share.invitation.state in (SendState.CANCELLED, SendState.FAILED),
    }


def invitation_letters(share, rows) -> dict:
    """How each shown recipient's invitation went: on paper or digitally,
    and what the broker's receipt said (SF1601)."""
    if share.invitation is None or not rows:
        return {}
    found = db.session.execute(
        select(Delivery.recipient_id, Delivery.channel, Delivery.receipt, Delivery.receipt_text).where(
            Delivery.round_id == share.invitation.id, Delivery.recipient_id.in_([r.id for r in rows])
        )
    ).all()
    return {row.recipient_id: row for row in found}


def is_live(share) -> bool:
    soon = utcnow() + timedelta(seconds=60)
    return any(
        r.state == SendState.RUNNING or (r.state == SendState.SCHEDULED and r.send_at <= soon) for r in share.rounds
    )


def status_context(share):
    return {
        "share": share,
        "counts": state_counts(share),
        "reasons": failure_reasons(share),
        "live": is_live(share),
        "error_label": error_label,
        "retryable": retry_count(share),
    }


@bp.get("/<int:share_id>/")
def status(share_id):
    share = own_share(share_id)
    if share.is_draft:
        return redirect(url_for(".recipients", share_id=share.id))
    return render_template(STATUS, table=recipient_table(share), **status_context(share))


@bp.get("/<int:share_id>/counts")
def counts(share_id):
    """Polled while a round runs; 286 tells htmx to stop once nothing is left to watch."""
    share = own_share(share_id)
    context = status_context(share)
    response = render_template("shares/_counts.html", **context)
    return response, 200 if context["live"] else 286


@bp.get("/<int:share_id>/deletion-receipt")
def deletion_receipt(share_id):
    share = own_share(share_id)
    return pdf_download(receipt_of(share), f"postbud-deletion-receipt-{share.id}.pdf")


@bp.get("/<int:share_id>/recipients-table")
def recipients_table(share_id):
    share = own_share(share_id)
    return render_template("shares/_recipient_table.html", share=share, table=recipient_table(share))


@bp.post("/<int:share_id>/retry")
def retry(share_id):
    """Send again to the recipients whose message failed for a passing reason."""
    share = own_share(share_id)
    if not may_share_via_digital_post(g.membership):
        abort(403)
    recipients, rounds = retry_failed(share)
    db.session.commit()
    if recipients:
        text = plural(
            "%(num)s recipient gets the message again.", "%(num)s recipients get the message again.", recipients
        )
        try:
            enqueue_rounds(rounds)
        except RedisError:
            text = _("Saved, but the queue did not answer. The messages will be sent when it is back.")
    else:
        text = _("There is nothing to send again.")
    db.session.refresh(share)
    response = render_fragment("shares/_counts.html", STATUS, table=recipient_table(share), **status_context(share))
    return add_message(response, text, "success" if recipients else "info")


@bp.get("/<int:share_id>/cancel")
def cancel_confirm(share_id):
    share = own_share(share_id)
    return render_template(
        "shares/_cancel_dialog.html",
        share=share,
        pending=[r for r in share.rounds if r.state in (SendState.SCHEDULED, SendState.HELD)],
        local=local,
    )


@bp.post("/<int:share_id>/cancel")
def cancel(share_id):
    share = own_share(share_id)
    cancelled = cancel_share(share)
    db.session.commit()
    db.session.refresh(share)
    text = (
        plural(
            "%(num)s scheduled send was cancelled.",
            "%(num)s scheduled sends were cancelled.",
            cancelled,
        )
        if cancelled
        else _("Nothing was scheduled any more.")
    )
    response = render_fragment(
        "shares/_counts.html",
        STATUS,
        trigger={"closeDialog": True},
        table=recipient_table(share),
        **status_context(share),
    )
    return add_message(response, text)
