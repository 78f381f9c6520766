"""A member's surveys: create, add questions, open and close, see responses,
and the share page (the anonymous link, and Digital Post)."""

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from formats import plural
from models import Share, Survey, db
from models.access import ShareOption, digital_post_option
from models.base import utcnow
from models.results import (
    answers_by_day,
    answers_by_recipient,
    export_table,
    question_summaries,
    response_rates,
    to_csv,
    to_xlsx,
)
from models.sharing import ShareState
from models.sharing.lifecycle import draft_deleted_at, drafts_of
from models.sharing.recipients import recipient_count
from models.survey import (
    INTRO_MAX,
    MAX_OPTIONS,
    MAX_QUESTIONS,
    OPTION_MAX,
    QUESTION_MAX,
    TITLE_MAX,
    QuestionKind,
    add_question,
    close_survey,
    create_survey,
    open_survey,
    results_withheld,
)
from views.forms import Form, small_int
from views.org_scope import org_blueprint, own_survey
from views.rendering import add_message, render_fragment

bp = org_blueprint("surveys", __name__, "/surveys")


class SurveyForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=TITLE_MAX)])
    introduction = TextAreaField(_l("Introduction"), validators=[Length(max=INTRO_MAX)])
    anonymous = BooleanField(
        _l("Anonymous: answers are stored without any link to the person who gave them"), default=True
    )


class QuestionForm(Form):
    kind = RadioField(
        _l("Kind of question"),
        default=QuestionKind.SINGLE_CHOICE.value,
        choices=[
            SelectChoice(QuestionKind.SINGLE_CHOICE.value, _l("Single choice")),
            SelectChoice(QuestionKind.FREE_TEXT.value, _l("Free text")),
        ],
    )
    text = StringField(_l("Question"), validators=[DataRequired(), Length(max=QUESTION_MAX)])
    options = TextAreaField(_l("Options, one per line"))

    def validate_options(self, field):
        if self.kind.data != QuestionKind.SINGLE_CHOICE:
            field.data = ""
            return
        options = [line.strip() for line in (field.data or "").splitlines() if line.strip()]
        if len(options) < 2:
            raise ValidationError(_("Give at least two options, one per line."))
        if len(options) > MAX_OPTIONS:
            raise ValidationError(_("At most %(n)d options.", n=MAX_OPTIONS))
        if any(len(o) > OPTION_MAX for o in options):
            raise ValidationError(_("An option can be at most %(n)d characters.", n=OPTION_MAX))
        if len({o.casefold() for o in options}) != len(options):
            raise ValidationError(_("Two options are the same."))
        field.data = options


def list_page(form, status=200):
    surveys = db.session.scalars(
        db.select(Survey)
        .where(Survey.org_id == g.org.id, Survey.owner_id == g.membership.user_id)
        .order_by(Survey.created_at.desc(), Survey.id.desc())
    ).all()
    return render_template("surveys/index.html", surveys=surveys, form=form), status


@bp.get("/")
def index():
    return list_page(SurveyForm(formdata=None))


@bp.post("/")
def create():
    form = SurveyForm()
    if not form.validate():
        return list_page(form, 422)
    survey = create_survey(
        g.org.id, g.membership.user_id, form.title.data, form.introduction.data or "", form.anonymous.data
    )
    db.session.commit()
    return redirect(url_for(".edit", survey_id=survey.id), 303)


def edit_page(survey, form=None, question_form=None, status=200):
    return render_template(
        "surveys/edit.html",
        survey=survey,
        status=status,
        form=form or SurveyForm(obj=survey, formdata=None),
        question_form=question_form or QuestionForm(formdata=None),
        max_questions=MAX_QUESTIONS,
    ), status


@bp.get("/<int:survey_id>/")
def edit(survey_id):
    return edit_page(own_survey(survey_id))


@bp.post("/<int:survey_id>/")
def update(survey_id):
    survey = own_survey(survey_id)
    form = SurveyForm()
    if not form.validate():
        return edit_page(survey, form=form, status=422)
    survey.title = form.title.data.strip()
    survey.introduction = (form.introduction.data or "").strip()
    if survey.is_draft:  # respondents were told one or the other once it opened
        survey.anonymous = form.anonymous.data
    db.session.commit()
    return add_message(redirect(url_for(".edit", survey_id=survey.id), 303), _("The survey is saved."))


@bp.post("/<int:survey_id>/questions")
def add_question_view(survey_id):
    survey = own_survey(survey_id)
    form = QuestionForm()
    if not survey.is_draft:
        abort(409)
    valid = form.validate()
    if len(survey.questions) >= MAX_QUESTIONS:
        form.text.errors = [_("A survey can have at most %(n)d questions.", n=MAX_QUESTIONS)]
        valid = False
    if not valid:
        return render_fragment(
            "surveys/_questions.html",
            "surveys/edit.html",
            status=422,
            survey=survey,
            question_form=form,
            form=SurveyForm(obj=survey, formdata=None),
        )
    add_question(survey, form.kind.data, form.text.data.strip(), form.options.data or [])
    db.session.commit()
    db.session.refresh(survey)
    return render_fragment(
        "surveys/_questions.html",
        "surveys/edit.html",
        survey=survey,
        question_form=QuestionForm(formdata=None),
        form=SurveyForm(obj=survey, formdata=None),
    )


@bp.post("/<int:survey_id>/questions/<int:question_id>/delete")
def delete_question(survey_id, question_id):
    survey = own_survey(survey_id)
    question = next((q for q in survey.questions if q.id == question_id), None)
    if question is None:
        abort(404)
    if not survey.is_draft:
        abort(409)
    survey.questions.remove(question)
    db.session.commit()
    return render_fragment(
        "surveys/_questions.html",
        "surveys/edit.html",
        survey=survey,
        question_form=QuestionForm(formdata=None),
        form=SurveyForm(obj=survey, formdata=None),
    )


@bp.post("/<int:survey_id>/open")
def open_(survey_id):
    survey = own_survey(survey_id)
    if not survey.questions:
        return add_message(
            redirect(url_for(".edit", survey_id=survey.id), 303),
            _("Add at least one question before you open the survey."),
            "error",
        )
    open_survey(survey)
    db.session.commit()
    return add_message(redirect(url_for(".edit", survey_id=survey.id), 303), _("The survey is open for answers."))


@bp.post("/<int:survey_id>/close")
def close(survey_id):
    survey = own_survey(survey_id)
    cancelled = close_survey(survey)
    db.session.commit()
    text = _("The survey is closed. Late respondents are told so.")
    if cancelled:
        text += " " + plural(
            "%(num)s scheduled send was cancelled.",
            "%(num)s scheduled sends were cancelled.",
            cancelled,
        )
    return add_message(redirect(url_for(".edit", survey_id=survey.id), 303), text)


RESULTS_PER_PAGE = 25  # answer sheets per page, by recipient


@bp.get("/<int:survey_id>/responses")
def responses(survey_id):
    survey = own_survey(survey_id)
    minimum = current_app.config["ANONYMOUS_RESULTS_MIN_ANSWERS"]
    withheld = results_withheld(survey, minimum)
    page = max(1, min(request.args.get("page", 1, type=small_int), 10_000))
    per_recipient, more = ([], False) if withheld else answers_by_recipient(survey, page, RESULTS_PER_PAGE)
    return render_template(
        "surveys/responses.html",
        survey=survey,
        summaries=[] if withheld else question_summaries(survey),
        by_day=[] if withheld else answers_by_day(survey),
        rates=[] if withheld else response_rates(survey, g.membership.id),
        per_recipient=per_recipient,
        page=page,
        more=more,
        withheld_below=minimum if withheld else None,
        total=survey.response_count(),
    )


MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@bp.get("/<int:survey_id>/responses.<any(csv, xlsx):fmt>")
def export(survey_id, fmt):
    """The results as a file: a sheet per answer, or for an anonymous survey the counts."""
    survey = own_survey(survey_id)
    minimum = current_app.config["ANONYMOUS_RESULTS_MIN_ANSWERS"]
    if results_withheld(survey, minimum):
        flash(_("The results are shown once at least %(n)d people have answered.", n=minimum), "info")
        return redirect(url_for(".responses", survey_id=survey.id), 303)
    labels = {
        "question": _("Question"),
        "option": _("Option"),
        "count": _("Answers"),
        "percent": _("Share (%)"),
        "answered_at": _("Answered (Danish time)"),
        "name": _("Name"),
        "language": _("Language"),
    }
    rows = export_table(survey, labels)
    body = to_csv(rows) if fmt == "csv" else to_xlsx(rows, str(_("Results")))
    filename = f"postbud-{survey.id}-{utcnow():%Y%m%d}.{fmt}"
    return Response(
        body,
        mimetype=MIMETYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@bp.get("/<int:survey_id>/share")
def share(survey_id):
    survey = own_survey(survey_id)
    shares = db.session.scalars(
        db.select(Share)
        .where(
            Share.survey_id == survey.id, Share.membership_id == g.membership.id, Share.state == ShareState.CONFIRMED
        )
        .order_by(Share.id.desc())
    ).all()
    link = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("respond.public", token=survey.public_token)
    return render_template(
        "surveys/share.html",
        survey=survey,
        link=link,
        shares=shares,
        digital_post=digital_post_option(g.membership),
        ShareOption=ShareOption,
        drafts=[(d, draft_deleted_at(d), recipient_count(d.id)) for d in drafts_of(survey.id, g.membership.id)],
    )
