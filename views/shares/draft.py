"""A draft share, step by step: recipients, message, schedule, reach, the
test letter, and the confirm that sends it."""

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from htmx_flask import make_response
from redis.exceptions import RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from digitalpost import ErrorCode, mask_cpr
from formats import plural
from jobs.reach import enqueue_reach_check, reach_job_alive
from jobs.sending import enqueue_rounds
from jobs.test_letter import enqueue_test_letter
from models import RecipientImport, TestLetter, db
from models.access import may_share_via_digital_post
from models.base import utcnow
from models.contacts import left_out_counts
from models.integration import DigitalPostIntegration
from models.reach import choose_for_exempt, reach_of, start_reach_check
from models.sharing import MAX_REMINDERS, VARIABLE_MAX, ExemptChoice, ReachState, RoundKind, error_label
from models.sharing.letters import (
    compose,
    first_oversized,
    language_of,
    merge_fields_in,
    merge_gaps,
    resolve_texts,
    suggested_texts,
    unknown_merge_fields,
    write_texts,
    written_text,
)
from models.sharing.lifecycle import ConfirmOutcome, confirm_share, discard_draft, start_share
from models.sharing.recipients import (
    accept_import,
    add_one,
    discard_import,
    fix_recipient,
    has_english_recipients,
    import_file,
    import_text,
    listed_recipient,
    pending_import,
    recipient_count,
    remove_recipient,
    remove_recipients,
    sample,
)
from models.sharing.rows import PASTE_MAX_BYTES, FileError, ImportRefused, RowError, ValidRow, upload_max_bytes
from models.sharing.schedule import MAX_REMINDER_DAYS, When, local
from models.sharing.status import draft_page
from models.test_letters import TestLetterState, finish_test_letter, preview_link, start_test_letter
from views.errors import render_error
from views.forms import large_body, small_int
from views.ratelimit import AttemptLimit, minutes
from views.rendering import add_message, go_to, is_fragment, render_fragment
from views.shares import COMPOSE, METHODS, bp, draft_share, own_share
from views.shares.forms import (
    TEXT_FIELDS,
    FixRecipientForm,
    ManualForm,
    MessageForm,
    PasteForm,
    ScheduleForm,
    TestLetterForm,
    fallbacks_from,
    too_long_message,
)

# --- the draft -----------------------------------------------------------------


@bp.post("/")
def start():
    if not may_share_via_digital_post(g.membership):
        abort(403)
    if not g.survey.is_open:
        return add_message(
            redirect(url_for("surveys.share", survey_id=g.survey.id), 303),
            _("Open the survey before you send invitations."),
            "error",
        )
    share = start_share(g.survey, g.membership)
    db.session.commit()
    return redirect(url_for(".recipients", share_id=share.id), 303)


@bp.post("/<int:share_id>/discard")
def discard(share_id):
    """The member gives up a draft: it goes, with its recipients' CPRs."""
    share = own_share(share_id)
    if discard_draft(share):
        db.session.commit()
        message = _("The draft is deleted, with its recipients.")
    else:
        message = _("That draft was sent or deleted already.")
    return add_message(redirect(url_for("surveys.share", survey_id=g.survey.id), 303), message)


def recipients_step(
    share, method="manual", manual=None, paste=None, upload_error=None, status=200, list_q="", list_page=1, **htmx
):
    return render_fragment(
        "shares/_recipients.html",
        COMPOSE,
        status=status,
        **htmx,
        step=1,
        share=share,
        method=method if method in METHODS else "manual",
        manual=manual or ManualForm(formdata=None),
        paste=paste or PasteForm(formdata=None),
        upload_error=upload_error,
        pending=pending_import(share.id),
        count=recipient_count(share.id),
        listing=draft_page(share, list_q, list_page),
        row_errors=RowError,
        column_labels={
            "first_name": _("First name"),
            "last_name": _("Last name"),
            "cpr": "CPR",
            "language": _("Language"),
        },
    )


# The upload tab's template: the columns in the member's language, and one
# example row (a made-up citizen), as Excel reads a semicolon CSV.
TEMPLATE_COLUMNS = {"da": "fornavn;efternavn;cpr;sprog", "en": "firstname;lastname;cpr;language"}
TEMPLATE_EXAMPLE = {"da": "Anne;Jensen;010190-1234;da", "en": "Anne;Jensen;010190-1234;en"}


@bp.get("/<int:share_id>/recipients/template.csv")
def recipients_template(share_id):
    draft_share(share_id)
    language = "en" if str(get_locale()) == "en" else "da"
    body = (
        "\ufeff" + TEMPLATE_COLUMNS[language] + "\r\n" + TEMPLATE_EXAMPLE[language] + "\r\n"
    )  # a BOM: Excel reads UTF-8
    name = "modtagere.csv" if language == "da" else "recipients.csv"
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/<int:share_id>/recipients")
def recipients(share_id):
    return recipients_step(draft_share(share_id), request.args.get("method", "manual"))


@bp.post("/<int:share_id>/recipients/manual")
def add_manual(share_id):
    share = draft_share(share_id)
    form = ManualForm()
    if not form.validate():
        return recipients_step(share, "manual", manual=form, status=422)
    try:
        added = add_one(
            share,
            ValidRow(
                (form.first_name.data or "").strip(),
                (form.last_name.data or "").strip(),
                form.cpr.data,
                form.language.data,
            ),
        )
    except ImportRefused as exc:
        db.session.rollback()
        form.cpr.errors = [exc.error.label]
        return recipients_step(share, "manual", manual=form, status=422)
    if not added:
        form.cpr.errors = [_("This CPR number is on the list already.")]
        return recipients_step(share, "manual", manual=form, status=422)
    db.session.commit()
    return add_message(recipients_step(share, "manual"), _("The recipient is added."))


@bp.post("/<int:share_id>/recipients/paste")
@large_body(PASTE_MAX_BYTES * 2 + 2**20, PASTE_MAX_BYTES + 2**20)  # a paste arrives percent-encoded
def add_paste(share_id):
    share = draft_share(share_id)
    form = PasteForm()
    text = form.text.data or ""
    if not text.strip():
        form.text.errors = [
            _("Paste the recipients: one per line, with cpr and optionally firstname, lastname, language.")
        ]
        return recipients_step(share, "paste", paste=form, status=422)
    if len(text.encode()) > PASTE_MAX_BYTES:
        form.text.errors = [_("The text is too long. Upload it as a file instead.")]
        return recipients_step(share, "paste", paste=form, status=422)
    return finish_import(share, "paste", lambda: import_text(share, text), paste=form)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """Werkzeug refuses a body over the upload's limit from its Content-Length,
    before anything is read (here already in the CSRF check): say so at the field."""
    if request.endpoint != "shares.add_upload":
        return render_error(413)
    message = FileError.TOO_LARGE.label
    if is_fragment():
        return make_response(
            render_template("shares/_upload_feedback.html", upload_error=message),
            422,
            retarget="#upload-feedback",
            reswap="innerHTML",
        )
    return render_template("errors/error.html", code=413, message=message), 413


@bp.post("/<int:share_id>/recipients/upload")
@large_body(lambda: upload_max_bytes() + 2**20, 2**20)
def add_upload(share_id):
    share = draft_share(share_id)
    upload = request.files.get("file")  # too large: answered by too_large() above, before this runs
    if upload is None or not upload.filename:
        return recipients_step(share, "upload", upload_error=_("Choose a CSV or Excel file."), status=422)
    return finish_import(share, "upload", lambda: import_file(share, upload.stream, upload.filename))


def finish_import(share, method, run, **forms):
    try:
        imp = run()
    except ImportRefused as exc:
        db.session.rollback()
        if method == "paste":
            forms["paste"].text.errors = [exc.error.label]
            return recipients_step(share, method, status=422, **forms)
        return recipients_step(share, method, upload_error=exc.error.label, status=422)
    if imp.failed == 0:  # nothing to decide: the rows join the list at once
        accept_import(share, imp)
    db.session.commit()
    response = recipients_step(share, method)
    if imp.accepted:
        return add_message(response, import_summary(imp))
    return response


def import_summary(imp) -> str:
    text = plural("%(num)s recipient added.", "%(num)s recipients added.", imp.valid)
    if imp.duplicates:
        text += " " + plural(
            "%(num)s duplicated CPR number was merged.",
            "%(num)s duplicated CPR numbers were merged.",
            imp.duplicates,
        )
    return text


@bp.post("/<int:share_id>/imports/<int:import_id>/<any(accept, discard):choice>")
def decide_import(share_id, import_id, choice):
    share = draft_share(share_id)
    imp = db.session.get(RecipientImport, import_id)
    if imp is None or imp.share_id != share.id:
        abort(404)
    if imp.accepted:  # a double click, or a stale page
        return recipients_step(share)
    if choice == "accept":
        accept_import(share, imp)
        db.session.commit()
        return add_message(recipients_step(share), import_summary(imp))
    discard_import(share, imp)
    db.session.commit()
    return add_message(
        recipients_step(share, "upload" if imp.source == "upload" else "paste"),
        _("Nothing was added. Fix the file and add it again."),
        "info",
    )


@bp.post("/<int:share_id>/recipients/clear")
def clear(share_id):
    share = draft_share(share_id)
    remove_recipients(share)
    db.session.commit()
    return add_message(recipients_step(share), _("The list is empty."), "info")


def message_form(share) -> MessageForm:
    """The message step's form as the draft holds it, or from the suggested
    texts the first time (English too when some recipients read English)."""
    data = {}
    if share.subject:
        for (kind, lang), (subject, body) in TEXT_FIELDS.items():
            if text := written_text(share, kind, lang):
                data[subject], data[body] = text.subject, text.body
    else:
        languages = ("da", "en") if has_english_recipients(share.id) else ("da",)
        for kind, by_language in suggested_texts(share, languages).items():
            for lang, text in by_language.items():
                subject, body = TEXT_FIELDS[kind, lang]
                data[subject], data[body] = text.subject, text.body
    return MessageForm(formdata=None, data=data, variables=share.variables, fallbacks=share.merge_fallbacks)


def message_step(share, form=None, status=200, **htmx):
    form = form or message_form(share)
    english = any(form[name].data for (_kind, lang), names in TEXT_FIELDS.items() if lang == "en" for name in names)
    return render_fragment(
        "shares/_message.html",
        COMPOSE,
        status=status,
        **htmx,
        step=2,
        share=share,
        form=form,
        english_open=english
        or any(form[n].errors for (_k, lang), ns in TEXT_FIELDS.items() if lang == "en" for n in ns),
        gaps=merge_gaps_context(share, form),
        preview=preview_context(share, form),
    )


def merge_gaps_context(share, form):
    """The merge fields some recipients lack, how many, and what the member
    wrote for them (templates/shares/_merge_gaps.html)."""
    return {
        "counts": merge_gaps(share.id, form.all_text),
        "fallbacks": form.fallbacks,
        "errors": form.fallback_errors,
        "max": VARIABLE_MAX,
    }


def preview_context(share, form, recipient_id=None, kind=RoundKind.INVITATION):
    """The letter the chosen recipient will get, composed as the worker will,
    from the texts in the form."""
    choices = sample(share.id, 20)
    recipient = next((r for r in choices if r.id == recipient_id), choices[0] if choices else None)
    share_texts = resolve_texts(form.texts())
    letter = compose(share, kind, recipient, texts=share_texts[kind], fallbacks=form.fallbacks)
    problem = letter.problem() if letter.subject.strip() and form.body.data else None
    return {
        "recipients": choices,
        "recipient": recipient,
        "kind": kind,
        "kinds": list(RoundKind),
        "letter": letter,
        # The answer page in preview mode, in the recipient's language: answers are checked, never stored.
        "answer_page": preview_link(share.survey_id, language_of(recipient), utcnow()),
        "problem": problem.field if problem else None,
        "unknown": unknown_merge_fields(form.all_text, share.variables),
    }


def round_kind(text: str | None) -> RoundKind:
    """A round kind from a form, the invitation for anything else."""
    return RoundKind(text) if text in RoundKind._value2member_map_ else RoundKind.INVITATION


@bp.get("/<int:share_id>/message")
def message(share_id):
    share = draft_share(share_id)
    if not recipient_count(share.id):
        return redirect(url_for(".recipients", share_id=share.id))
    return message_step(share)


@bp.post("/<int:share_id>/message")
def save_message(share_id):
    share = draft_share(share_id)
    form = MessageForm(variables=share.variables, fallbacks=fallbacks_from(request.form))
    if not form.validate():
        return message_step(share, form, status=422)
    texts = form.texts()
    used = set(merge_fields_in(form.all_text))
    fallbacks = {name: text for name, text in form.fallbacks.items() if name in used and text}
    too_long = first_oversized(share, resolve_texts(texts), fallbacks)
    if too_long:
        # A reminder with no text of its own is the invitation's: the error goes there.
        kind = too_long.kind if too_long.kind in texts else RoundKind.INVITATION
        subject, body = TEXT_FIELDS[kind, too_long.language]
        form[subject if too_long.field == "subject" else body].errors.append(too_long_message(too_long))
        return message_step(share, form, status=422)
    write_texts(share, texts, fallbacks)
    db.session.commit()
    return schedule_step(share, push_url=url_for(".schedule", share_id=share.id))


@bp.post("/<int:share_id>/preview")
def preview(share_id):
    share = draft_share(share_id)
    form = MessageForm(variables=share.variables, fallbacks=fallbacks_from(request.form))
    body_html = render_template(
        "shares/_preview.html",
        share=share,
        preview=preview_context(
            share,
            form,
            request.form.get("preview_recipient", type=small_int),
            round_kind(request.form.get("preview_kind")),
        ),
    )
    gaps = merge_gaps_context(share, form)
    # The fields lacking values, anew only when they change: the member may be typing in one.
    if ",".join(gaps["counts"]) != request.form.get("gap_fields", ""):
        body_html += render_template("shares/_merge_gaps.html", gaps=gaps, oob=True)
    return body_html


def schedule_step(share, form=None, status=200, **htmx):
    form = form or ScheduleForm(formdata=None)
    return render_fragment(
        "shares/_schedule.html",
        COMPOSE,
        status=status,
        **htmx,
        step=3,
        share=share,
        form=form,
        max_reminders=MAX_REMINDERS,
        max_days=MAX_REMINDER_DAYS,
    )


@bp.get("/<int:share_id>/schedule")
def schedule(share_id):
    share = draft_share(share_id)
    if not share.subject:
        return redirect(url_for(".message", share_id=share.id))
    return schedule_step(share)


@bp.post("/<int:share_id>/schedule")
def review(share_id):
    """Add or remove a reminder row, or check the schedule and show the summary."""
    share = draft_share(share_id)
    form = ScheduleForm()
    action = request.form.get("action", "review")
    if action == "add_reminder" and len(form.reminders) < MAX_REMINDERS:
        form.reminders.append_entry()
        return schedule_step(share, form)
    if action.startswith("remove_reminder"):
        index = request.form.get("index", type=small_int)
        if index is not None and 0 <= index < len(form.reminders):
            del form.reminders.entries[index]
        return schedule_step(share, form)
    if not form.validate():
        return schedule_step(share, form, status=422)
    rounds = form.schedule.rounds
    return render_fragment(
        "shares/_review.html",
        COMPOSE,
        step=4,
        share=share,
        form=form,
        rounds=rounds,
        count=recipient_count(share.id),
        local=local,
        now=form.when.data == When.NOW,
        reach=checked_reach(share),
        left_out=left_out_counts(share),
        error_label=error_label,
        **test_letter_context(share, TestLetterForm(formdata=None)),
    )


# --- the reach: who gets Digital Post, who is exempt, who is not known ----------


def paper_possible(share) -> bool:
    integration = DigitalPostIntegration.find(share.org_id)
    return bool(integration and integration.is_active and integration.can_send_paper)


def checked_reach(share):
    """The draft's reach, with a lookup started for recipients not yet
    looked up (or again, when a job was lost with Redis)."""
    possible = paper_possible(share)
    reach = reach_of(share, possible)
    lost = reach.checking and not reach_job_alive(share.id)
    if reach.unchecked and (not reach.checking or lost):
        if lost:
            share.reach_state = ReachState.FAILED
        if start_reach_check(share):
            db.session.commit()
            try:
                enqueue_reach_check(share)
            except RedisError:
                share.reach_state, share.reach_error = ReachState.FAILED, ErrorCode.UNAVAILABLE
                db.session.commit()
        reach = reach_of(share, possible)
    return reach


def reach_fragment(share, status=200):
    reach = reach_of(share, paper_possible(share))
    body = render_template("shares/_reach.html", share=share, reach=reach, error_label=error_label)
    # 286 tells htmx to stop polling once the lookup is over.
    return body, (status if reach.checking else 286)


@bp.get("/<int:share_id>/reach")
def reach(share_id):
    return reach_fragment(draft_share(share_id))


@bp.post("/<int:share_id>/reach")
def choose_exempt(share_id):
    """The member's choice for the exempt: leave them out, or paper."""
    share = draft_share(share_id)
    try:
        choice = ExemptChoice(request.form.get("exempt_choice", ""))
    except ValueError:
        return reach_fragment(share, status=422)
    choose_for_exempt(share, choice, paper_possible(share))
    db.session.commit()
    body, _status = reach_fragment(share)
    return body, 200


# --- the test letter -------------------------------------------------------------


def test_letter_limit() -> AttemptLimit:
    return AttemptLimit("test-letter", current_app.config["TEST_LETTERS_PER_HOUR"], 3600)


def test_letter_context(share, form, sent=None) -> dict:
    first = sample(share.id, 1)
    return {
        "test_form": form,
        "test_letter": sent,
        "test_for": first[0] if first else None,
        "test_limit": current_app.config["TEST_LETTERS_PER_HOUR"],
    }


def test_letter_fragment(share, form, sent=None, status=200):
    return render_template("shares/_test_letter.html", share=share, **test_letter_context(share, form, sent)), status


@bp.post("/<int:share_id>/test-letter")
def send_test(share_id):
    """The letter, exactly as composed, to the member's own Digital Post.
    The CPR is not stored and not shown again."""
    share = draft_share(share_id)
    form = TestLetterForm()
    if not form.validate():
        return test_letter_fragment(share, form, status=422)
    wait = test_letter_limit().take(str(g.membership.id))
    if wait:
        form.cpr.errors.append(
            _(
                "You can send %(n)d test letters an hour. Try again in %(minutes)d minutes.",
                n=current_app.config["TEST_LETTERS_PER_HOUR"],
                minutes=minutes(wait),
            )
        )
        return test_letter_fragment(share, form, status=422)
    row = start_test_letter(share, g.membership.id, round_kind(form.kind.data), mask_cpr(form.cpr.data))
    db.session.commit()
    try:
        enqueue_test_letter(row, form.cpr.data)
    except RedisError:
        finish_test_letter(row.id, TestLetterState.FAILED, ErrorCode.UNAVAILABLE)
        db.session.commit()
        # Handled and recorded: the form comes back with the advice (the field itself comes back empty).
        form.cpr.errors.append(_("The queue did not answer, so nothing was sent. Try again in a moment."))
        return test_letter_fragment(share, form)
    return test_letter_fragment(share, form, sent=row)


@bp.get("/<int:share_id>/test-letter/<int:test_id>")
def test_status(share_id, test_id):
    """Polled while the test letter is on its way; 286 stops the polling."""
    share = own_share(share_id)
    row = db.session.get(TestLetter, test_id)
    if row is None or row.share_id != share.id or row.membership_id != g.membership.id:
        abort(404)
    body, _status = test_letter_fragment(share, TestLetterForm(formdata=None), sent=row)
    return body, 200 if row.is_sending else 286


@bp.post("/<int:share_id>/confirm")
def confirm(share_id):
    share = own_share(share_id)
    if not share.is_draft:  # a double click: the first one sent it
        return go_to(url_for(".status", share_id=share.id))
    form = ScheduleForm()
    if not form.validate():
        return schedule_step(share, form, status=422)
    outcome, rounds = confirm_share(share, form.schedule.rounds, may_share=may_share_via_digital_post(g.membership))
    if outcome == ConfirmOutcome.ALREADY_CONFIRMED:
        return go_to(url_for(".status", share_id=share.id))
    if outcome == ConfirmOutcome.HELD:
        db.session.commit()
        flash(
            _(
                "The share is saved. It would pass the organization's daily volume, so it waits for an administrator to approve it."
            ),
            "success",
        )
        return go_to(url_for(".status", share_id=share.id))
    if outcome != ConfirmOutcome.CONFIRMED:
        db.session.rollback()
        abort(403 if outcome == ConfirmOutcome.NOT_ALLOWED else 409)
    db.session.commit()
    sent_now = form.when.data == When.NOW
    text = _("The invitations are being sent.") if sent_now else _("The invitations are scheduled.")
    try:
        enqueue_rounds(rounds)
    except RedisError:
        # The rounds are in the database; the worker's housekeeping sends them.
        text = _("The invitations are saved, but the queue did not answer. They will be sent when it is back.")
    flash(text, "success")  # shown by the status page the browser is sent to
    return go_to(url_for(".status", share_id=share.id))


# --- the draft's list: search, page, remove one, fix one ---------------------------


def list_args() -> tuple[str, int]:
    """The list's search and page, from the query or the form."""
    q = request.values.get("q", "")
    page = max(1, min(request.values.get("page", 1, type=small_int) or 1, 10_000))
    return q, page


@bp.route("/<int:share_id>/recipients/list", methods=["GET", "POST"])
def recipients_list(share_id):
    """A page of the list: by GET for pages and names; the search box
    posts, so that a CPR number searched for stays out of URLs and logs."""
    share = draft_share(share_id)
    q, page = list_args()
    return render_template("shares/_draft_list.html", share=share, listing=draft_page(share, q, page))


@bp.post("/<int:share_id>/recipients/<int:recipient_id>/remove")
def remove_one(share_id, recipient_id):
    share = draft_share(share_id)
    who = remove_recipient(share, recipient_id)
    db.session.commit()
    q, page = list_args()
    response = recipients_step(share, list_q=q, list_page=page)
    if who is None:
        return add_message(response, _("That recipient was not on the list any more."), "info")
    return add_message(response, _("%(who)s is removed from the list.", who=who), "success")


@bp.route("/<int:share_id>/recipients/<int:recipient_id>/edit", methods=["GET", "POST"])
def fix_one(share_id, recipient_id):
    """Correct a name or a language, in the shared dialog."""
    share = draft_share(share_id)
    recipient = listed_recipient(share, recipient_id)
    if recipient is None:
        abort(404)
    q, page = list_args()
    if request.method == "GET":
        form = FixRecipientForm(formdata=None, obj=recipient, prefix="fix")
        return render_template(
            "shares/_fix_recipient.html", share=share, recipient=recipient, form=form, q=q, page=page
        )
    form = FixRecipientForm(prefix="fix")  # the page's own add form has the plain ids
    if not form.validate():
        body = render_template(
            "shares/_fix_recipient.html", share=share, recipient=recipient, form=form, q=q, page=page
        )
        return make_response(body, 422)
    fix_recipient(share, recipient.id, form.first_name.data.strip(), form.last_name.data.strip(), form.language.data)
    db.session.commit()
    response = recipients_step(share, list_q=q, list_page=page, retarget="#compose", trigger={"closeDialog": True})
    return add_message(response, _("The recipient is corrected."), "success")
