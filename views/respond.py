"""The public answer page: no login. A recipient's personal link takes one
answer (or a decline). The survey's public link takes one answer per
browser (a signed cookie) and PUBLIC_ANSWERS_PER_ADDRESS per network
address per day (counted in Redis by an HMAC of the address), and says so."""

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from crypto import hasher
from models import Recipient, Survey, db
from models.optout import is_opted_out, opt_out, withdraw_opt_out
from models.policy import policy_of
from models.reach import recipient_for_paper_code
from models.sharing.letters import why_lines
from models.survey import (
    EMPTY_CONFIRMED,
    AnswerError,
    AnswerOutcome,
    SurveyState,
    decline,
    parse_answers,
    submit_response,
    undo_decline,
)
from models.test_letters import read_preview_token
from views.ratelimit import AttemptLimit

bp = Blueprint("respond", __name__)
LANGUAGES = ("da", "en")
ANSWERED_COOKIE = "postbud_answered"
ANSWERED_KEPT = 100  # survey ids the cookie remembers, newest last
DAY = 86400


def page(template, survey, status=200, **context):
    return render_template(template, survey=survey, **context), status


def by_token(token: str) -> Recipient:
    recipient = db.session.scalar(select(Recipient).where(Recipient.token == token)) if len(token) <= 32 else None
    if recipient is None:
        abort(404)
    g.respondent_language = recipient.language
    return recipient


def answer_form(survey, recipient=None, errors=None, values=None, status=200, preview=False, empty=False, public=False):
    if survey.state == SurveyState.CLOSED:
        return page("respond/closed.html", survey)
    if survey.state != SurveyState.OPEN:
        abort(404)
    if recipient is not None and recipient.responded_at:
        return page("respond/done.html", survey, outcome=AnswerOutcome.ALREADY_ANSWERED)
    if recipient is not None and recipient.declined_at:
        return page("respond/done.html", survey, outcome=AnswerOutcome.DECLINED_BEFORE, recipient=recipient)
    org = survey.organization
    why = why_lines(org.name, policy_of(org.id).purpose(g.respondent_language), g.respondent_language, cpr=not public)
    return page(
        "respond/answer.html",
        survey,
        why=why,
        status=status,
        recipient=recipient,
        errors=errors or {},
        values=values or {},
        preview=preview,
        confirm_empty=EMPTY_CONFIRMED if empty else None,
        per_address=current_app.config["PUBLIC_ANSWERS_PER_ADDRESS"] if public else None,
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


@bp.route("/r/<token>/decline", methods=["GET", "POST"])
def decline_view(token):
    """No thanks: asked once (the letter's link lands here), then done. The
    citizen may also say no to every survey from the organization."""
    recipient = by_token(token)
    survey = recipient.share.survey
    if recipient.responded_at:
        return page("respond/done.html", survey, outcome=AnswerOutcome.ALREADY_ANSWERED)
    org_wide = is_opted_out(survey.org_id, recipient.cpr_hmac)
    if request.method == "GET":
        template = "respond/declined.html" if recipient.declined_at else "respond/decline.html"
        return page(template, survey, recipient=recipient, org_wide=org_wide)
    decline(recipient)
    if request.form.get("org_wide") == "yes":
        opt_out(survey.org_id, recipient.cpr_hmac)
        org_wide = True
    db.session.commit()
    return page("respond/declined.html", survey, recipient=recipient, org_wide=org_wide)


@bp.post("/r/<token>/undecline")
def undo_decline_view(token):
    """The citizen changes their mind after "no thanks": back to the survey."""
    recipient = by_token(token)
    if recipient.share.survey.is_open:
        undo_decline(recipient)
        db.session.commit()
    return redirect(url_for(".personal", token=recipient.token), 303)


@bp.post("/r/<token>/org-wide/withdraw")
def withdraw_org_wide(token):
    """The citizen takes back "no surveys from the organization"."""
    recipient = by_token(token)
    survey = recipient.share.survey
    withdraw_opt_out(survey.org_id, recipient.cpr_hmac)
    db.session.commit()
    return page("respond/declined.html", survey, recipient=recipient, org_wide=False, withdrawn=True)


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
    answered = answered_here()
    if survey.id in answered and survey.is_open:
        return page("respond/done.html", survey, outcome=AnswerOutcome.ANSWERED_IN_THIS_BROWSER)
    if request.method == "GET":
        return answer_form(survey, public=True)
    try:
        answers = parse_answers(survey, request.form)
    except AnswerError as exc:
        return answer_form(survey, errors=exc.errors, values=request.form, status=422, empty=exc.empty, public=True)
    if wait := address_limit().take(f"{survey.id}:{address_hash()}"):
        return page(
            "respond/done.html", survey, 429, outcome=AnswerOutcome.TOO_MANY_FROM_ADDRESS, hours=-(-wait // 3600)
        )
    outcome = submit_response(survey, answers, g.respondent_language)
    db.session.commit()
    if outcome == AnswerOutcome.CLOSED:
        return page("respond/closed.html", survey)
    body, status = page("respond/done.html", survey, outcome=outcome)
    response = current_app.make_response((body, status))
    remember_answered(response, [*answered, survey.id])
    return response


def address_limit() -> AttemptLimit:
    return AttemptLimit("public-answer", current_app.config["PUBLIC_ANSWERS_PER_ADDRESS"], DAY)


def address_hash() -> str:
    # Behind a proxy, remote_addr is the client's only with ProxyFix (README).
    # Redis gets an HMAC, not the address.
    return hasher("public-answer-address")(request.remote_addr or "unknown")


def _answered_cookie() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=ANSWERED_COOKIE)


def answered_here() -> list[int]:
    """The surveys this browser has answered through their public link."""
    try:
        ids = _answered_cookie().loads(request.cookies.get(ANSWERED_COOKIE, ""))
    except BadSignature:
        return []
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def remember_answered(response, ids: list[int]) -> None:
    response.set_cookie(
        ANSWERED_COOKIE,
        _answered_cookie().dumps(ids[-ANSWERED_KEPT:]),
        max_age=365 * DAY,
        path="/s/",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
