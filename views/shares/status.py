"""A confirmed share's status: counts, the recipient table, retry, cancel and
the deletion receipt."""

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from htmx_flask import make_response
from redis.exceptions import RedisError

from formats import plural
from jobs.sending import enqueue_rounds
from models import db
from models.access import may_share_via_digital_post
from models.deletions import receipt_of
from models.sharing import SendState, error_label
from models.sharing.lifecycle import cancel_reminder, cancel_share, retry_count, retry_failed
from models.sharing.schedule import local
from models.sharing.status import failure_reasons, is_live, recipient_page, state_counts
from views.forms import small_int
from views.rendering import add_message, pdf_download, render_fragment
from views.shares import STATUS, bp, own_share

# --- status ------------------------------------------------------------------------

RECIPIENTS_CHANGED = {"recipientsChanged": True}  # templates/shares/_recipient_table.html listens


def recipient_table(share):
    page = max(1, min(request.args.get("page", 1, type=small_int), 10_000))
    return recipient_page(share, request.args.get("state", ""), request.args.get("q") or "", page)


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
    # The recipient table reads itself again with every look (its rows' states change with the counts).
    return make_response(
        render_template("shares/_counts.html", **context), 200 if context["live"] else 286, trigger=RECIPIENTS_CHANGED
    )


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
    response = render_fragment(
        "shares/_counts.html", STATUS, table=recipient_table(share), trigger=RECIPIENTS_CHANGED, **status_context(share)
    )
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
        trigger={"closeDialog": True, **RECIPIENTS_CHANGED},
        table=recipient_table(share),
        **status_context(share),
    )
    return add_message(response, text)


@bp.post("/<int:share_id>/rounds/<int:round_id>/cancel")
def cancel_one_reminder(share_id, round_id):
    """Cancel one reminder that has not started; the rest of the share stays."""
    share = own_share(share_id)
    cancelled = cancel_reminder(share, round_id)
    db.session.commit()
    db.session.refresh(share)
    response = render_fragment(
        "shares/_counts.html", STATUS, table=recipient_table(share), trigger=RECIPIENTS_CHANGED, **status_context(share)
    )
    if cancelled:
        return add_message(response, _("The reminder is cancelled. The rest is sent as planned."), "success")
    return add_message(response, _("That reminder was no longer scheduled."), "info")
