"""Issue 22, item 4: the survey's public link takes one answer per browser
and a day's worth per network address, and says so on the page."""

import re

import pytest
from sqlalchemy import func, select

from models import Response, db
from tests.test_sharing import survey  # noqa: F401  (a fixture)


def answer(client, survey, option="0", address="198.51.100.7"):
    """Open the page and submit it; a page with no form (answered already)
    is submitted with the form kept from before, as a stale tab would."""
    url = f"/s/{survey.public_token}"
    page = client.get(url, environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    if csrf := re.search(r'name="csrf_token" value="([^"]+)"', page):
        client.kept_csrf = csrf.group(1)
    data = {"csrf_token": client.kept_csrf, f"q{survey.questions[0].id}": option}
    return client.post(url, data=data, environ_base={"REMOTE_ADDR": address})


def answers() -> int:
    return db.session.scalar(select(func.count()).select_from(Response))


def test_one_browser_answers_once_and_the_page_says_so(client, survey, app):
    page = client.get(f"/s/{survey.public_token}").get_data(as_text=True)
    limit = app.config["PUBLIC_ANSWERS_PER_ADDRESS"]
    assert f"ét svar fra hver browser og højst {limit} om dagen fra samme netværksadresse" in page

    assert "Dit svar er gemt" in answer(client, survey).get_data(as_text=True)
    again = answer(client, survey, option="1")
    assert "allerede svaret på dette spørgeskema fra denne browser" in again.get_data(as_text=True)
    assert "allerede svaret" in client.get(f"/s/{survey.public_token}").get_data(as_text=True)
    assert answers() == 1


def test_a_tampered_cookie_counts_for_nothing(client, survey):
    client.set_cookie("postbud_answered", "[1,2,3]", path="/s/")
    assert "Dit svar er gemt" in answer(client, survey).get_data(as_text=True)
    assert answers() == 1


@pytest.fixture
def three_a_day(app):
    app.config["PUBLIC_ANSWERS_PER_ADDRESS"] = 3
    yield 3
    app.config["PUBLIC_ANSWERS_PER_ADDRESS"] = 30


def test_one_address_gives_a_days_worth_whatever_the_cookies(app, survey, three_a_day):
    for _ in range(three_a_day):
        fresh = app.test_client()  # a browser without the cookie
        assert answer(fresh, survey).status_code == 200
    refused = answer(app.test_client(), survey)
    assert refused.status_code == 429
    assert "Prøv igen om 24 timer" in refused.get_data(as_text=True)
    assert answers() == three_a_day
    # Another address is counted on its own.
    assert answer(app.test_client(), survey, address="203.0.113.9").status_code == 200
    assert answers() == three_a_day + 1
