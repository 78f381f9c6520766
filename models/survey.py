"""Surveys that members own and share, their questions and their answers.

A survey is answered on a public page without login: through the survey's
anonymous link, or through a recipient's personal link (models.sharing), which
takes one answer and marks the recipient as responded so reminders skip them.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String, Text, case, func, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import UTCDateTime, new_token, utcnow
from models.sharing import ANSWERED_UNTIMED, CancelReason, Recipient, RecipientState, Share
from models.sharing.lifecycle import cancel_scheduled_sends

TITLE_MAX = 200
INTRO_MAX = 5000
QUESTION_MAX = 500
OPTION_MAX = 200
MAX_OPTIONS = 20
MAX_QUESTIONS = 50
FREE_TEXT_MAX = 5000


class SurveyState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return str(
            {SurveyState.DRAFT: _l("Draft"), SurveyState.OPEN: _l("Open"), SurveyState.CLOSED: _l("Closed")}[self]
        )


class QuestionKind(StrEnum):
    SINGLE_CHOICE = "single_choice"
    FREE_TEXT = "free_text"


class Survey(db.Model):
    __table_args__ = (Index("ix_survey_org_owner", "org_id", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    introduction: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default=SurveyState.DRAFT)
    # Anonymous: answers are stored with no link to the recipient who gave them.
    anonymous: Mapped[bool] = mapped_column(default=True)
    public_token: Mapped[str] = mapped_column(String(32), unique=True, default=new_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner = relationship("User")
    organization = relationship("Organization")
    questions = relationship(
        "Question", order_by="Question.position", lazy="selectin", cascade="all, delete-orphan", back_populates="survey"
    )

    @property
    def is_open(self) -> bool:
        return self.state == SurveyState.OPEN

    @property
    def is_draft(self) -> bool:
        return self.state == SurveyState.DRAFT

    @property
    def state_label(self) -> str:
        return SurveyState(self.state).label

    def response_count(self) -> int:
        return db.session.scalar(select(func.count()).select_from(Response).where(Response.survey_id == self.id))


class Question(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(20), default=QuestionKind.SINGLE_CHOICE)
    text: Mapped[str] = mapped_column(String(QUESTION_MAX))
    options: Mapped[list] = mapped_column(JSON, default=list)

    survey = relationship("Survey", back_populates="questions")

    @property
    def is_choice(self) -> bool:
        return self.kind == QuestionKind.SINGLE_CHOICE


class Response(db.Model):
    """One submitted answer sheet. recipient_id is empty for anonymous surveys
    and for answers through the survey's public link."""

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipient.id", ondelete="SET NULL"), index=True)
    language: Mapped[str] = mapped_column(String(2), default="da")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    answers = relationship("Answer", lazy="selectin", cascade="all, delete-orphan")


class Answer(db.Model):
    __table_args__ = (Index("ix_answer_question_option", "question_id", "option_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"))
    option_index: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(Text)


# --- verbs -------------------------------------------------------------------


def create_survey(org_id: int, owner_id: int, title: str, introduction: str, anonymous: bool) -> Survey:
    """A new draft survey of the organization, owned by the user."""
    survey = Survey(
        org_id=org_id, owner_id=owner_id, title=title.strip(), introduction=introduction.strip(), anonymous=anonymous
    )
    db.session.add(survey)
    return survey


def add_question(survey: Survey, kind: str, text: str, options: list[str]) -> Question:
    position = max((q.position for q in survey.questions), default=0) + 1
    question = Question(
        survey=survey,
        kind=kind,
        text=text,
        position=position,
        options=options if kind == QuestionKind.SINGLE_CHOICE else [],
    )
    db.session.add(question)
    return question


def open_survey(survey: Survey) -> bool:
    if survey.state == SurveyState.OPEN or not survey.questions:
        return False
    survey.state = SurveyState.OPEN
    survey.closed_at = None
    return True


def close_survey(survey: Survey) -> int:
    """Close the survey and cancel what its shares still had scheduled.
    Returns how many rounds were cancelled."""

    if survey.state != SurveyState.OPEN:
        return 0
    survey.state = SurveyState.CLOSED
    survey.closed_at = utcnow()
    return cancel_scheduled_sends(
        survey.org_id, CancelReason.SURVEY_CLOSED, share_ids=select(Share.id).where(Share.survey_id == survey.id)
    )


class AnswerError(ValueError):
    def __init__(self, errors: dict[int, str], empty: bool = False):
        self.errors = errors  # question id -> error code
        self.empty = empty  # nothing was answered, and the respondent has not said that is what they mean
        super().__init__("invalid answers")


class AnswerProblem(StrEnum):
    NOT_AN_OPTION = "option"
    TOO_LONG = "too_long"

    @property
    def label(self) -> str:
        if self is AnswerProblem.NOT_AN_OPTION:
            return str(_l("Choose one of the options."))
        return str(_l("The answer is too long."))


EMPTY_CONFIRMED = ("empty", "confirmed")  # the form field that says "yes, send it empty"


def parse_answers(survey: Survey, form) -> list[Answer]:
    """Answers from a submitted form (q<ID> fields). Every question is
    optional; a value that is not one of the options is refused. A sheet
    with nothing answered is refused until the respondent confirms it
    (EMPTY_CONFIRMED): a personal link takes one answer, and a press on
    Submit by mistake would use it up."""
    answers, errors = [], {}
    for question in survey.questions:
        raw = (form.get(f"q{question.id}") or "").strip()
        if not raw:
            continue
        if question.is_choice:
            # ASCII digits only: "²" and "١" are digits to str.isdigit, and
            # a number thousands of digits long is no option either.
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not int(raw) < len(question.options):
                errors[question.id] = AnswerProblem.NOT_AN_OPTION
                continue
            answers.append(Answer(question_id=question.id, option_index=int(raw)))
        else:
            if len(raw) > FREE_TEXT_MAX:
                errors[question.id] = AnswerProblem.TOO_LONG
                continue
            answers.append(Answer(question_id=question.id, text=raw))
    if errors:
        raise AnswerError(errors)
    name, value = EMPTY_CONFIRMED
    if not answers and form.get(name) != value:
        raise AnswerError({}, empty=True)
    return answers


class AnswerOutcome(StrEnum):
    SAVED = "saved"
    ALREADY_ANSWERED = "already_answered"
    DECLINED_BEFORE = "declined_before"
    CLOSED = "closed"
    PREVIEWED = "previewed"  # through a test letter's preview link: checked, not stored
    ANSWERED_IN_THIS_BROWSER = "answered_in_this_browser"  # the public link, a second time from one browser
    TOO_MANY_FROM_ADDRESS = "too_many_from_address"  # the public link, over the day's answers from one address


def submit_response(survey: Survey, answers: list[Answer], language: str, recipient=None) -> AnswerOutcome:
    """Store one answer sheet. Through a personal link the recipient is marked
    as responded first, by a conditional UPDATE, so a double submit or two
    tabs store one answer only."""

    if not survey.is_open:
        return AnswerOutcome.CLOSED
    if recipient is not None:
        # Anonymous: marked as answered with no time and no change of state,
        # so nothing orders recipients the way their answers are ordered.
        mark = (
            {"responded_at": ANSWERED_UNTIMED}
            if survey.anonymous
            else {
                "responded_at": utcnow(),
                "state": RecipientState.RESPONDED,
            }
        )
        marked = db.session.execute(
            update(Recipient)
            .where(Recipient.id == recipient.id, Recipient.responded_at.is_(None), Recipient.declined_at.is_(None))
            .values(**mark)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not marked:
            db.session.refresh(recipient)
            return AnswerOutcome.DECLINED_BEFORE if recipient.declined_at else AnswerOutcome.ALREADY_ANSWERED
    linked = recipient.id if recipient is not None and not survey.anonymous else None
    db.session.add(
        Response(
            survey_id=survey.id,
            recipient_id=linked,
            language=language,
            answers=answers,
            created_at=answered_on() if survey.anonymous else utcnow(),
        )
    )
    return AnswerOutcome.SAVED


def answered_on() -> datetime:
    """An anonymous answer's time: its day only, so that it cannot be matched
    with the moment a personal link was used (in a proxy's log, say)."""
    return utcnow().replace(hour=0, minute=0, second=0, microsecond=0)


def decline(recipient) -> bool:
    """The recipient does not want to take part: no more reminders."""

    return bool(
        db.session.execute(
            update(Recipient)
            .where(Recipient.id == recipient.id, Recipient.responded_at.is_(None), Recipient.declined_at.is_(None))
            .values(declined_at=utcnow(), state=RecipientState.DECLINED)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def undo_decline(recipient) -> bool:
    """The recipient takes "no thanks" back: invited again as before (and
    reminded again), until they answer. Their state is the invitation's:
    delivered if Digital Post said so, else sent."""
    return bool(
        db.session.execute(
            update(Recipient)
            .where(Recipient.id == recipient.id, Recipient.declined_at.is_not(None), Recipient.responded_at.is_(None))
            .values(
                declined_at=None,
                state=case((Recipient.in_mailbox, RecipientState.DELIVERED), else_=RecipientState.SENT),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    )


@dataclass
class QuestionResult:
    question: Question
    counts: list[int]
    texts: list[str]


def results_withheld(survey: Survey, minimum: int) -> bool:
    """An anonymous survey's results are shown once `minimum` answers exist:
    with fewer, a count or a free text can point to the one who gave it."""
    return survey.anonymous and survey.response_count() < minimum


def results(survey: Survey, text_limit: int = 200) -> list[QuestionResult]:
    """Counts per option and free-text answers, per question: the latest
    first, or for an anonymous survey in alphabetical order, so that the
    newest answer cannot be told from the others."""
    counts = {
        (q, o): n
        for q, o, n in db.session.execute(
            select(Answer.question_id, Answer.option_index, func.count())
            .join(Response, Response.id == Answer.response_id)
            .where(Response.survey_id == survey.id, Answer.option_index.is_not(None))
            .group_by(Answer.question_id, Answer.option_index)
        )
    }
    out = []
    for question in survey.questions:
        texts = []
        if not question.is_choice:
            texts = db.session.scalars(
                select(Answer.text)
                .where(Answer.question_id == question.id, Answer.text.is_not(None))
                .order_by(Answer.text if survey.anonymous else Answer.id.desc())
                .limit(text_limit)
            ).all()
        out.append(
            QuestionResult(question, [counts.get((question.id, i), 0) for i in range(len(question.options))], texts)
        )
    return out
