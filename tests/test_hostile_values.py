"""Issue 22, items 2 and 6: malformed .xlsx parts and bad values answer
422 with a message, never a 500, and nothing is stored."""

import re

import pytest
from sqlalchemy import func, select

from models import Recipient, Response, db
from tests.fixtures.xlsx import xlsx_with_sheet
from tests.test_recipients import draft, upload  # noqa: F401  (a fixture)
from tests.test_sharing import base, survey, with_access  # noqa: F401  (fixtures)

SHEET = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>%s</t></is></c></row>'
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]>"
)


@pytest.mark.parametrize(
    "sheet",
    [
        SHEET + ROW % b"&undefined;" + b"</sheetData></worksheet>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
        + SHEET
        + ROW % b"&ext;"
        + b"</sheetData></worksheet>",
        LAUGHS + SHEET + ROW % b"&lol9;" + b"</sheetData></worksheet>",
        SHEET + ROW % b"0101901234" + b"<row r=",  # truncated
    ],
    ids=["undefined-entity", "external-entity", "billion-laughs", "truncated"],
)
def test_a_malformed_excel_part_is_refused_at_the_file_field(as_member, draft, sheet):
    response = upload(as_member, draft, xlsx_with_sheet(sheet), "liste.xlsx")
    assert response.status_code == 422
    assert "kunne ikke læses som en Excel-fil" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


@pytest.fixture
def answer_url(as_member, survey, with_access, app):
    from models.sharing.lifecycle import start_share
    from models.sharing.recipients import add_one
    from models.sharing.rows import ValidRow

    share = start_share(survey, with_access)
    db.session.flush()
    add_one(share, ValidRow("Ida", "Borger", "0101901234", "da"))
    db.session.commit()
    token = db.session.scalar(select(Recipient.token))
    return f"/r/{token}", survey.questions[0].id


@pytest.mark.parametrize("value", ["²", "١", "9" * 5000, "0x1", " 1 2"])
def test_a_bad_choice_on_the_answer_page_is_a_message_not_a_500(client, answer_url, value):
    url, question_id = answer_url
    page = client.get(url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(url, data={"csrf_token": csrf, f"q{question_id}": value})
    assert response.status_code == 422
    assert "Vælg en af svarmulighederne" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0
    assert db.session.scalar(select(Recipient.responded_at)) is None


def test_a_schedule_at_the_calendars_start_is_a_message_at_the_date(as_member, survey, with_access):
    response = as_member.post(base(survey) + "/")
    draft_url = re.search(r"(/orgs/.*/digital-post/\d+)/recipients", response.headers["Location"]).group(1)
    as_member.post(draft_url + "/recipients/paste", {"text": "cpr\n0101901234"}, htmx=True)
    as_member.post(draft_url + "/message", {"subject": "Trivsel", "body": "Svar gerne."}, htmx=True)
    for day in ("0001-01-01", "9999-12-31"):
        answer = as_member.post(draft_url + "/schedule", {"when": "later", "date": day, "time": "00:00"}, htmx=True)
        assert answer.status_code == 422, day
        assert "Vælg en dato inden for et år" in answer.get_data(as_text=True)


@pytest.mark.parametrize("value", ["010190-1234", "0101901234", "cpr 010190 1234 her"])
def test_a_cpr_in_a_background_variable_is_refused_with_its_column(as_member, draft, value):
    csv = f"fornavn;cpr;personnummer\nAnne;0202901234;{value}\nBo;0303901234;Nord\n".encode()
    response = upload(as_member, draft, csv, "liste.csv")
    body = response.get_data(as_text=True)
    assert "kun i cpr-kolonnen" in body and "PERSONNUMMER" in body
    assert value not in body  # not shown back either
    stored = [r.variables for r in db.session.scalars(select(Recipient))]
    assert all(value not in str(v) for v in stored)


def test_background_variables_are_deleted_with_the_cprs(as_member, survey, with_access, sandbox, run_jobs):
    from models import RecipientCpr
    from tests.test_sharing import compose, confirm

    text = "fornavn;cpr;afdeling\nAnne;0101901234;Nord\nBo;0202901234;Syd\n"
    draft_url, schedule = compose(as_member, survey, text, body="Kære [FORNAVN] i [AFDELING].")
    assert {tuple(r.variables.items()) for r in db.session.scalars(select(Recipient))} == {
        (("AFDELING", "Nord"),),
        (("AFDELING", "Syd"),),
    }
    confirm(as_member, draft_url, schedule)
    run_jobs()
    assert "Kære Anne i Nord." in sandbox.mailbox("0101901234")[0]["text"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(RecipientCpr)) == 0
    assert [r.variables for r in db.session.scalars(select(Recipient))] == [None, None]


def test_an_empty_answer_is_asked_about_before_it_uses_up_the_personal_link(client, answer_url):
    """Item 7: Submit with nothing filled in saves nothing and asks; only a
    second Submit, confirming, saves the empty answer. Answering instead
    after the question works as usual."""
    url, question_id = answer_url
    page = client.get(url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    asked = client.post(url, data={"csrf_token": csrf, f"q{question_id}": " "})
    body = asked.get_data(as_text=True)
    assert asked.status_code == 422
    assert "Du har ikke besvaret nogen af spørgsmålene" in body
    assert "linket kan ikke bruges til at svare igen" in body
    assert "Dit svar er gemt" not in body
    recipient = db.session.scalar(select(Recipient))
    assert recipient.responded_at is None and db.session.scalar(select(func.count()).select_from(Response)) == 0

    confirmed = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)"', body))
    assert client.post(url, data=confirmed).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(Recipient.responded_at)) is not None
    assert db.session.scalar(select(func.count()).select_from(Response)) == 1


def test_an_answer_after_the_question_is_saved_as_usual(client, answer_url):
    url, question_id = answer_url
    page = client.get(url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    asked = client.post(url, data={"csrf_token": csrf}).get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)"', asked))
    saved = client.post(url, data={**fields, f"q{question_id}": "0"})
    assert saved.status_code == 200 and "Dit svar er gemt" in saved.get_data(as_text=True)
    answer = db.session.scalar(select(Response)).answers[0]
    assert answer.option_index == 0
