"""A confirmed share's status: counts, the recipient table, retry, cancel and
the deletion receipt."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from htmx_flask import make_response
from redis.exceptions import RedisError

from formats import plural
from jobs.sending import enqueue_rounds
from models import db
from models.access import may_share_via_digital_post
from models.deletions import receipt_of
from models.sharing import RoundKind, SendState, error_label
from models.sharing.letters import first_oversized, round_texts
from models.sharing.lifecycle import (
    WAITING_STATES,
    ChangeOutcome,
    cancel_reminder,
    cancel_share,
    change_round,
    retry_count,
    retry_failed,
    share_changes,
)
from models.sharing.schedule import local
from models.sharing.status import failure_reasons, is_live, is_sending, recipient_page, state_counts
from views.forms import small_int
from views.rendering import add_message, go_to, pdf_download, render_fragment
from views.shares import STATUS, bp, own_share
from views.shares.forms import RoundForm, too_long_message

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
        "sending": is_sending(share),
        "error_label": error_label,
        "retryable": retry_count(share),
        "changes": share_changes(share),
        "may_change": may_share_via_digital_post(g.membership),
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


def round_form_data(rnd) -> dict:
    moment = local(rnd.send_at)
    data = {"date": moment.date(), "time": moment.time().replace(second=0, microsecond=0)}
    for lang, text in round_texts(rnd).items():
        subject, body = RoundForm.TEXTS[RoundKind.INVITATION, lang]
        data[subject], data[body] = text.subject, text.body
    return data


@bp.route("/<int:share_id>/rounds/<int:round_id>/edit", methods=["GET", "POST"])
def edit_round(share_id, round_id):
    """A new time and text for a round that has not started."""
    share = own_share(share_id)
    if not may_share_via_digital_post(g.membership):
        abort(403)
    rnd = next((r for r in share.rounds if r.id == round_id), None)
    if rnd is None:
        abort(404)
    if rnd.state not in WAITING_STATES:
        flash(_("That round has started or was cancelled, so it can no longer be changed."), "info")
        return go_to(url_for(".status", share_id=share.id))
    if request.method == "GET":
        form = RoundForm(formdata=None, data=round_form_data(rnd), variables=share.variables)
        return round_page(share, rnd, form)
    form = RoundForm(variables=share.variables)
    if not form.validate():
        return round_page(share, rnd, form, 422)
    texts = form.round_texts()
    too_long = first_oversized(share, {RoundKind(rnd.kind): texts}, share.merge_fallbacks)
    if too_long:
        subject, body = RoundForm.TEXTS[RoundKind.INVITATION, too_long.language]
        form[subject if too_long.field == "subject" else body].errors.append(too_long_message(too_long))
        return round_page(share, rnd, form, 422)
    outcome, problems = change_round(share, rnd.id, form.date.data, form.time.data, texts, current_user.id)
    if outcome == ChangeOutcome.INVALID:
        for problem in problems:
            form[problem.field].errors.append(str(problem.message))
        return round_page(share, rnd, form, 422)
    if outcome == ChangeOutcome.NOT_WAITING:
        db.session.rollback()
        flash(_("That round has started or was cancelled, so it can no longer be changed."), "info")
        return go_to(url_for(".status", share_id=share.id))
    if outcome == ChangeOutcome.UNCHANGED:
        flash(_("Nothing was changed."), "info")
        return go_to(url_for(".status", share_id=share.id))
    db.session.commit()
    text = _("The invitation is changed.") if rnd.kind == RoundKind.INVITATION else _("The reminder is changed.")
    if rnd.state == SendState.SCHEDULED:  # one held for approval is queued when approved
        try:
            enqueue_rounds([rnd])
        except RedisError:  # the worker's housekeeping queues it
            text = _("The change is saved, but the queue did not answer. The round is sent when it is back.")
    flash(text, "success")
    return go_to(url_for(".status", share_id=share.id))


def round_page(share, rnd, form, status=200):
    return render_fragment(
        "shares/_round_form.html", "shares/round_edit.html", status=status, share=share, rnd=rnd, form=form
    )


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
