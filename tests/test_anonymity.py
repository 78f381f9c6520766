"""Issue 22, item 3: an anonymous survey stays anonymous to the member and
to whoever reads the database. The member sees how many answered, never
who; nothing stored orders recipients the way their answers are ordered;
results wait for enough answers; and reminders still skip who answered."""

import logging
import re

from sqlalchemy import func, select

from extensions import get_queue
from jobs.sending import send_round
from models import Recipient, Response, ScheduledSend, db
from models.base import utcnow
from models.sharing import ANSWERED_UNTIMED
from tests.test_sharing import CPRS, compose, confirm, share_of, survey, with_access  # noqa: F401  (fixtures)

LIST = "firstname;lastname;cpr\nAnne;Hansen;0101901234\nBo;Berg;0202901234\nCarl;Dahl;0303901234\n"


def answer(client, link: str, question_id: int, text: str = "") -> None:
    page = client.get(link).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    saved = client.post(link, data={"csrf_token": csrf, f"q{question_id}": "0", "q_text": text})
    assert "Dit svar er gemt" in saved.get_data(as_text=True)


def test_the_member_sees_how_many_answered_never_who(as_member, survey, with_access, sandbox, run_jobs, client):
    survey.anonymous = True
    db.session.commit()
    draft, schedule = compose(as_member, survey, LIST, reminders=[3])
    confirm(as_member, draft, schedule)
    run_jobs()
    anne_link = sandbox.mailbox(CPRS[0])[0]["actions"][0]["url"]
    answer(client, anne_link, survey.questions[0].id)

    status = as_member.get(draft + "/").get_data(as_text=True)
    assert re.search(r'count-responded"><span class="count-n">1<', status), "the count is shown"
    assert "Har svaret</td>" not in status and 'value="responded"' not in status, "no row or filter says who"
    filtered = as_member.get(draft + "/recipients-table?state=responded", htmx=True).get_data(as_text=True)
    assert filtered.count("<tr>") >= 4  # the filter is ignored: everyone, not the one who answered

    # In the database: no time on the recipient, only the day on the answer,
    # and no state that singles the recipient out.
    db.session.expire_all()
    rows = db.session.execute(select(Recipient.first_name, Recipient.state, Recipient.responded_at)).all()
    assert {name: state for name, state, _ in rows} == {"Anne": "delivered", "Bo": "delivered", "Carl": "delivered"}
    assert [at for name, _, at in rows if name == "Anne"] == [ANSWERED_UNTIMED]
    response = db.session.scalar(select(Response))
    assert response.recipient_id is None
    assert (response.created_at.hour, response.created_at.minute, response.created_at.microsecond) == (0, 0, 0)
    assert response.created_at.date() == utcnow().date()

    # The reminder still skips Anne.
    reminder = share_of(draft).rounds[1]
    db.session.execute(db.update(ScheduledSend).where(ScheduledSend.id == reminder.id).values(send_at=utcnow()))
    db.session.commit()
    get_queue().enqueue(send_round, reminder.id)
    run_jobs()
    assert [len(sandbox.mailbox(c)) for c in CPRS] == [1, 2, 2]


def test_results_wait_for_enough_answers_and_free_texts_come_unordered(as_member, survey, client, app):
    survey.anonymous = True
    db.session.commit()
    minimum = app.config["ANONYMOUS_RESULTS_MIN_ANSWERS"]
    choice, free = survey.questions
    url = f"/orgs/{survey.org_id}/surveys/{survey.id}/responses"
    texts = ["Zebra", "Mere kaffe", "Bedre stole", "Kortere møder", "Alt er godt"]
    for n, text in enumerate(texts[: minimum - 1]):
        fresh = app.test_client()
        page = fresh.get(f"/s/{survey.public_token}", environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        fresh.post(
            f"/s/{survey.public_token}",
            data={"csrf_token": csrf, f"q{choice.id}": "0", f"q{free.id}": text},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )
    assert db.session.scalar(select(func.count()).select_from(Response)) == minimum - 1
    withheld = as_member.get(url).get_data(as_text=True)
    assert f"når mindst {minimum} har svaret" in withheld
    assert not any(t in withheld for t in texts)

    fresh = app.test_client()
    page = fresh.get(f"/s/{survey.public_token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    fresh.post(f"/s/{survey.public_token}", data={"csrf_token": csrf, f"q{choice.id}": "1", f"q{free.id}": texts[-1]})
    shown = as_member.get(url).get_data(as_text=True)
    found = re.findall(r'<li class="mail-text">([^<]+)</li>', shown)
    assert found == sorted(texts), "alphabetical, not newest first"


def test_a_linked_survey_still_shows_who_answered_and_when(as_member, survey, with_access, sandbox, run_jobs, client):
    draft, schedule = compose(as_member, survey, LIST)
    confirm(as_member, draft, schedule)
    run_jobs()
    answer(client, sandbox.mailbox(CPRS[0])[0]["actions"][0]["url"], survey.questions[0].id)
    db.session.expire_all()
    anne = db.session.scalar(select(Recipient).where(Recipient.first_name == "Anne"))
    assert anne.state == "responded" and anne.responded_at > ANSWERED_UNTIMED
    assert db.session.scalar(select(Response.recipient_id)) == anne.id
    status = as_member.get(draft + "/").get_data(as_text=True)
    assert "Har svaret</td>" in status and 'value="responded"' in status


def test_the_log_does_not_tie_an_answer_to_a_personal_link(
    as_member, survey, with_access, sandbox, run_jobs, client, caplog
):
    survey.anonymous = True
    db.session.commit()
    draft, schedule = compose(as_member, survey, LIST)
    confirm(as_member, draft, schedule)
    run_jobs()
    link = sandbox.mailbox(CPRS[0])[0]["actions"][0]["url"]
    token = link.rsplit("/r/", 1)[1]
    caplog.set_level(logging.INFO, logger="postbud.request")
    answer(client, link, survey.questions[0].id)
    lines = [r.getMessage() for r in caplog.records if r.name == "postbud.request"]
    assert "POST /r/<token> 200" in " ".join(lines)
    assert not any(token in line for line in lines)
