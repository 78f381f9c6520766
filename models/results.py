"""A survey's results as its owner reads them: per question, over time, the
response rate of each share and round, the answers per recipient, and the
export. An anonymous survey shows counts only, and nothing until enough have
answered (models.survey.results_withheld; docs/anonymity.md): no answers per
recipient, no rate per round (its recipients keep no time of answering),
and an export of the counts alone.
"""

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import func, select

from extensions import db
from models.sharing import Delivery, DeliveryState, Recipient, RoundKind, SendState, Share, ShareState
from models.sharing.schedule import local
from models.sharing.status import state_counts
from models.survey import Answer, Question, Response, Survey, results

# A spreadsheet reads a cell that starts with one of these as a formula
# (OWASP's list: tab and carriage return too). Exports write such a cell as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def ratio(part: int, whole: int) -> float | None:
    """A share of a whole, 0 to 1 (None of nothing), as formats.percent shows it."""
    return part / whole if whole else None


@dataclass
class OptionCount:
    label: str
    count: int
    ratio: float | None  # of those who answered the question


@dataclass
class QuestionSummary:
    question: Question
    answered: int
    options: list[OptionCount] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def question_summaries(survey: Survey, text_limit: int = 200) -> list[QuestionSummary]:
    """Per question: how many answered it, and per option its count and share."""
    out = []
    for r in results(survey, text_limit):
        if r.question.is_choice:
            answered = sum(r.counts)
            options = [OptionCount(label, n, ratio(n, answered)) for label, n in zip(r.question.options, r.counts)]
            out.append(QuestionSummary(r.question, answered, options))
        else:
            out.append(QuestionSummary(r.question, len(r.texts), texts=r.texts))
    return out


def answers_by_day(survey: Survey) -> list[tuple[date, int]]:
    """Answers per day (Danish time), from the first day to the last, days
    without answers included. Counted by the hour in the database (Danish
    time is whole hours from UTC), so a day is a few rows, not every answer.
    An anonymous survey's answers keep their day only."""
    hour = _utc_hour(Response.created_at)
    days: Counter = Counter()
    for bucket, count in db.session.execute(
        select(hour, func.count()).where(Response.survey_id == survey.id).group_by(hour)
    ):
        moment = datetime.fromisoformat(str(bucket)).replace(tzinfo=timezone.utc)
        days[moment.date() if survey.anonymous else local(moment).date()] += count
    if not days:
        return []
    first, last = min(days), max(days)
    return [
        (date.fromordinal(d), days.get(date.fromordinal(d), 0)) for d in range(first.toordinal(), last.toordinal() + 1)
    ]


def _utc_hour(column):
    """The UTC hour a moment falls in, in SQL: "YYYY-MM-DD HH:00:00" or a timestamp."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


@dataclass
class RoundRate:
    kind: RoundKind
    at: datetime
    reached: int  # recipients the round's letter reached the gateway for
    answered: int  # of them, answered after this round and before the next
    state: str

    @property
    def ratio(self) -> float | None:
        return ratio(self.answered, self.reached)


@dataclass
class ShareRate:
    share: Share
    invited: int
    answered: int
    rounds: list[RoundRate] | None  # None for an anonymous survey

    @property
    def ratio(self) -> float | None:
        return ratio(self.answered, self.invited)


def response_rates(survey: Survey, membership_id: int) -> list[ShareRate]:
    """The member's confirmed shares of the survey, newest first, each with
    its response rate, and per round who answered after it."""
    shares = db.session.scalars(
        select(Share)
        .where(Share.survey_id == survey.id, Share.membership_id == membership_id, Share.state == ShareState.CONFIRMED)
        .order_by(Share.id.desc())
    ).all()
    out = []
    for share in shares:
        counts = state_counts(share)
        out.append(
            ShareRate(share, counts["invited"], counts["responded"], None if survey.anonymous else round_rates(share))
        )
    return out


def round_rates(share: Share) -> list[RoundRate]:
    rounds = [r for r in share.rounds if r.state != SendState.CANCELLED]
    reached = dict(
        db.session.execute(
            select(Delivery.round_id, func.count())
            .where(Delivery.round_id.in_([r.id for r in rounds]), Delivery.state == DeliveryState.SENT)
            .group_by(Delivery.round_id)
        ).all()
    )
    out = []
    for index, rnd in enumerate(rounds):
        start = rnd.started_at or rnd.send_at
        following = next((r.started_at or r.send_at for r in rounds[index + 1 :]), None)
        window = [Recipient.share_id == share.id, Recipient.responded_at >= start]
        if following is not None:
            window.append(Recipient.responded_at < following)
        answered = db.session.scalar(
            select(func.count())
            .select_from(Recipient)
            .where(*window, Recipient.id.in_(select(Delivery.recipient_id).where(Delivery.round_id == rnd.id)))
        )
        out.append(RoundRate(RoundKind(rnd.kind), rnd.send_at, reached.get(rnd.id, 0), answered, rnd.state))
    return out


@dataclass
class RecipientAnswers:
    name: str
    cpr_masked: str
    answered_at: datetime
    answers: list[str]


def answer_texts(questions: list[Question], response: Response) -> list[str]:
    """A response's answer to each question, as the citizen chose or wrote it."""
    by_question = {a.question_id: a for a in response.answers}
    out = []
    for q in questions:
        a = by_question.get(q.id)
        if a is None:
            out.append("")
        elif q.is_choice:
            out.append(
                q.options[a.option_index] if a.option_index is not None and a.option_index < len(q.options) else ""
            )
        else:
            out.append(a.text or "")
    return out


def answers_by_recipient(survey: Survey, page: int, per_page: int) -> tuple[list[RecipientAnswers], bool]:
    """One page of a survey's answers given through personal links, by name,
    newest first; and whether more follow. Never for an anonymous survey."""
    if survey.anonymous:
        return [], False
    rows = db.session.execute(
        select(Response, Recipient.first_name, Recipient.last_name, Recipient.cpr_masked)
        .join(Recipient, Recipient.id == Response.recipient_id)
        .where(Response.survey_id == survey.id)
        .order_by(Response.created_at.desc(), Response.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    ).all()
    questions = list(survey.questions)
    found = [
        RecipientAnswers(f"{first} {last}".strip(), masked, response.created_at, answer_texts(questions, response))
        for response, first, last, masked in rows[:per_page]
    ]
    return found, len(rows) > per_page


# --- export ------------------------------------------------------------------------


def export_table(survey: Survey, labels: dict[str, str]) -> list[list]:
    """The rows of the export, a header first. One row per answer sheet,
    with the name for answers through a personal link; for an anonymous
    survey, the counts per question and option instead. labels names the
    columns in the reader's language."""
    if survey.anonymous:
        rows = [[labels["question"], labels["option"], labels["count"], labels["percent"]]]
        for s in question_summaries(survey, text_limit=0):
            for option in s.options:
                rows.append([s.question.text, option.label, option.count, round(100 * (option.ratio or 0), 1)])
            if not s.question.is_choice:
                rows.append([s.question.text, "", s.answered, None])
        return rows
    questions = list(survey.questions)
    column = {q.id: i for i, q in enumerate(questions)}
    options = {q.id: q.options for q in questions if q.is_choice}
    rows = [[labels["answered_at"], labels["name"], labels["language"], *(q.text for q in questions)]]
    names = {
        rid: f"{first} {last}".strip()
        for rid, first, last in db.session.execute(
            select(Recipient.id, Recipient.first_name, Recipient.last_name)
            .join(Response, Response.recipient_id == Recipient.id)
            .where(Response.survey_id == survey.id)
        )
    }
    # Plain rows, not objects: one pass over the answers, in the sheets' order.
    answers = db.session.execute(
        select(
            Response.id,
            Response.created_at,
            Response.recipient_id,
            Response.language,
            Answer.question_id,
            Answer.option_index,
            Answer.text,
        )
        .outerjoin(Answer, Answer.response_id == Response.id)
        .where(Response.survey_id == survey.id)
        .order_by(Response.created_at, Response.id)
    )
    current, row = None, None
    for response_id, created_at, recipient_id, language, question_id, option_index, text in answers:
        if response_id != current:
            current = response_id
            row = [local(created_at).strftime("%Y-%m-%d %H:%M"), names.get(recipient_id, ""), language]
            row += [""] * len(questions)
            rows.append(row)
        if question_id not in column:
            continue
        if question_id in options:
            choices = options[question_id]
            value = choices[option_index] if option_index is not None and 0 <= option_index < len(choices) else ""
        else:
            value = text or ""
        row[3 + column[question_id]] = value
    return rows


def as_text_cell(value):
    """A CSV cell that no spreadsheet reads as a formula: such text gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def to_csv(rows: list[list]) -> bytes:
    """UTF-8 with a byte-order mark and semicolons, as Danish Excel opens it."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in rows:
        writer.writerow([as_text_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: list[list], title: str) -> bytes:
    """Every text a text cell (never a formula, whatever it starts with);
    counts and percentages numbers."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=title)
    for row in rows:
        cells = []
        for value in row:
            cell = openpyxl.cell.WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl takes "=…" for a formula otherwise
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
