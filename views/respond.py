"""The public answer page: no login. A recipient's personal link takes one
answer (or a decline); the survey's anonymous link takes any number."""

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from sqlalchemy import select

from models import Recipient, Survey, db
from models.reach import recipient_for_paper_code
from models.survey import (
    EMPTY_CONFIRMED,
    AnswerError,
    AnswerOutcome,
    SurveyState,
    decline,
    parse_answers,
    submit_response,
)
from models.test_letters import read_preview_token

bp = Blueprint("respond", __name__)
LANGUAGES = ("da", "en")


def page(template, survey, status=200, **context):
    return render_template(template, survey=survey, **context), status


def by_token(token: str) -> Recipient:
    recipient = db.session.scalar(select(Recipient).where(Recipient.token == token)) if len(token) <= 32 else None
    if recipient is None:
        abort(404)
    g.respondent_language = recipient.language
    return recipient


def answer_form(survey, recipient=None, errors=None, values=None, status=200, preview=False, empty=False):
    if survey.state == SurveyState.CLOSED:
        return page("respond/closed.html", survey)
    if survey.state != SurveyState.OPEN:
        abort(404)
    if recipient is not None and recipient.responded_at:
        return page("respond/done.html", survey, outcome=AnswerOutcome.ALREADY_ANSWERED)
    if recipient is not None and recipient.declined_at:
        return page("respond/done.html", survey, outcome=AnswerOutcome.DECLINED_BEFORE)
    return page(
        "respond/answer.html",
        survey,
        status=status,
        recipient=recipient,
        errors=errors or {},
        values=values or {},
        preview=preview,
        confirm_empty=EMPTY_CONFIRMED if empty else None,
    )


def submit(survey, recipient=None):
    try:
        answers = parse_answers(survey, request.form)
    except AnswerError as exc:
        return answer_form(survey, recipient, errors=exc.errors, values=request.form, status=422, empty=exc.empty)
    outcome = submit_response(survey, answers, g.respondent_language, recipient)
    db.session.commit()
    if outcome == AnswerOutcome.CLOSED:
        return page("respond/closed.html", survey)
    return page("respond/done.html", survey, outcome=outcome)


@bp.route("/r/<token>", methods=["GET", "POST"])
def personal(token):
    recipient = by_token(token)
    survey = recipient.share.survey
    return submit(survey, recipient) if request.method == "POST" else answer_form(survey, recipient)


@bp.get("/k/<code>")
def paper_link(code):
    """The short link a printed letter carries: on to the personal link."""
    recipient = recipient_for_paper_code(code) if len(code) <= 16 else None
    if recipient is None:
        abort(404)
    return redirect(url_for(".personal", token=recipient.token), 303)


@bp.post("/r/<token>/decline")
def decline_view(token):
    recipient = by_token(token)
    survey = recipient.share.survey
    if recipient.responded_at:
        return page("respond/done.html", survey, outcome=AnswerOutcome.ALREADY_ANSWERED)
    decline(recipient)
    db.session.commit()
    return page("respond/declined.html", survey)


@bp.route("/p/<token>", methods=["GET", "POST"])
def preview(token):
    """A test letter's link: the answer page as a recipient sees it, in
    preview mode. Answers are checked as usual and never stored."""
    found = read_preview_token(token) if len(token) <= 200 else None
    survey = db.session.get(Survey, found[0]) if found else None
    if survey is None:
        abort(404)
    g.respondent_language = found[1]
    if request.method == "GET":
        return answer_form(survey, preview=True)
    try:
        parse_answers(survey, request.form)
    except AnswerError as exc:
        return answer_form(survey, errors=exc.errors, values=request.form, status=422, preview=True, empty=exc.empty)
    return page("respond/done.html", survey, outcome=AnswerOutcome.PREVIEWED)


@bp.route("/s/<token>", methods=["GET", "POST"])
def public(token):
    survey = db.session.scalar(select(Survey).where(Survey.public_token == token)) if len(token) <= 32 else None
    if survey is None:
        abort(404)
    chosen = request.args.get("lang")
    g.respondent_language = chosen if chosen in LANGUAGES else (request.accept_languages.best_match(LANGUAGES) or "da")
    return submit(survey) if request.method == "POST" else answer_form(survey)
