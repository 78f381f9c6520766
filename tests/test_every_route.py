"""Every route in the URL map, with every method, given malformed, oversized,
NUL-byte, file-for-text and cross-organization input (issue 9, item 10):
never a 500, and input aimed at another organization's ids changes nothing.
Form fields also come from hypothesis."""

import io
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.routing import AnyConverter

from conftest import PASSWORD, Session
from models import Recipient, RecipientImport, ScheduledSend, SendState, Survey, db
from models.access import grant_access, selection_of
from models.base import utcnow
from models.sharing import RoundKind
from models.sharing.lifecycle import start_share
from models.sharing.recipients import add_one
from models.sharing.rows import ValidRow
from models.survey import QuestionKind, SurveyState, add_question
from models.test_letters import start_test_letter

HUGE = "9" * 30
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
# Every field name a form here reads, so a walk reaches the validators.
FIELDS = [
    "email",
    "password",
    "language",
    "next",
    "title",
    "introduction",
    "anonymous",
    "kind",
    "prompt",
    "options",
    "cpr",
    "first_name",
    "last_name",
    "text",
    "subject",
    "body",
    "preview_recipient",
    "when",
    "date",
    "time",
    "action",
    "index",
    "reminders-0-mode",
    "reminders-0-days",
    "reminders-0-date",
    "reminders-0-time",
    "api_key",
    "sender_cvr",
    "code",
    "attempt_id",
    "scope",
    "checked",
    "member_id",
    "q",
    "department",
    "role",
    "page",
    "sort",
    "dir",
    "state",
    "field",
    "file",
]
PLAUSIBLE = {
    "email": "admin@example.dk",
    "password": PASSWORD,
    "language": "en",
    "title": "Overtaget",
    "introduction": "x",
    "kind": "free_text",
    "prompt": "Hvorfor?",
    "cpr": "0101901234",
    "text": "0101901234",
    "subject": "Emne",
    "body": "Tekst",
    "when": "now",
    "scope": "all",
    "checked": "true",
    "api_key": "test-key-1",
    "sender_cvr": "13585628",
    "code": "123456",
}
MALFORMED_QUERY = {
    "page": HUGE,
    "q": '"*) OR 1',
    "sort": "password_hash",
    "dir": "sideways",
    "department": "x" * 5000,
    "role": "owner",
    "state": "evil",
    "field": "__class__",
    "method": "../../etc",
    "next": "//evil.example",
}


def snapshot() -> dict:
    """Every row of every table: what "nothing changed" means."""
    db.session.expire_all()
    return {t.name: sorted(map(repr, db.session.execute(select(t)).all())) for t in db.metadata.sorted_tables}


@pytest.fixture
def world(app, org, admin, member, make_org, make_user, active_integration):
    """Org A (ours) and org B (theirs), each with a survey, a question, a draft
    share with a recipient and an import, and the links' tokens."""
    grant_access(org.id, admin.id, selection_of(member.membership_in(org.id).id))
    other_org = make_org("Anden Kommune")
    other_member = make_user(other_org, name="Olga Anden")
    ids = {}
    for key, o, owner in (("own", org, member), ("other", other_org, other_member)):
        survey = Survey(
            org_id=o.id, owner_id=owner.id, title="Trivsel", introduction="", anonymous=False, state=SurveyState.OPEN
        )
        db.session.add(survey)
        question = add_question(survey, QuestionKind.FREE_TEXT, "Hvorfor?", [])
        db.session.flush()
        share = start_share(survey, owner.membership_in(o.id))
        db.session.flush()
        add_one(share, ValidRow("Ida", "Borger", "0101901234", "da"))
        imp = RecipientImport(share_id=share.id, source="paste")
        db.session.add(imp)
        db.session.flush()
        recipient = db.session.scalar(select(Recipient).where(Recipient.share_id == share.id))
        recipient.paper_code = {"own": "ABCD2345", "other": "WXYZ2345"}[key]  # a printed letter's short link
        test = start_test_letter(share, owner.membership_in(o.id).id, RoundKind.INVITATION, "010190-****")
        reminder = ScheduledSend(
            org_id=o.id,
            share_id=share.id,
            membership_id=share.membership_id,
            kind=RoundKind.REMINDER,
            send_at=utcnow() + timedelta(days=30),
            state=SendState.SCHEDULED,
        )
        db.session.add(reminder)
        db.session.flush()
        ids[key] = {
            "org_id": o.id,
            "survey_id": survey.id,
            "question_id": (question or survey.questions[0]).id,
            "share_id": share.id,
            "import_id": imp.id,
            "test_id": test.id,
            "round_id": reminder.id,
            "recipient_id": recipient.id,
            "token": recipient.token,
            "public_token": survey.public_token,
            "code": recipient.paper_code,
        }
    db.session.commit()
    return ids


def url_for_rule(app, rule, values: dict) -> str:
    args = {}
    for arg in rule.arguments:
        converter = rule._converters[arg]
        if isinstance(converter, AnyConverter):
            args[arg] = sorted(converter.items)[0]
        else:
            args[arg] = values["public_token" if rule.endpoint == "respond.public" else arg]
    return app.url_map.bind("localhost").build(rule.endpoint, args)


def walkable_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint not in ("static", "auth.logout")]


def sessions(app, admin, member):
    result = []
    for user in (admin, member):
        s = Session(app.test_client())
        s.login(user)
        result.append(s)
    return result


def request(s, method, path, data=None, htmx=False, **kw):
    headers = {"HX-Request": "true"} if htmx else {}
    if s.token:
        headers["X-CSRFToken"] = s.token
    return s.client.open(path, method=method, data=data, headers=headers, **kw)


# Links are public by design: anyone with a real token may answer, decline,
# or take back "no surveys from the organization".
PUBLIC_LINKS = (
    "respond.personal",
    "respond.decline_view",
    "respond.withdraw_org_wide",
    "respond.undo_decline_view",
    "respond.public",
    "respond.paper_link",
)


def test_another_organizations_ids_and_huge_ids_change_nothing(app, world, admin, member):
    before = snapshot()
    theirs = world["other"]
    huge = {k: HUGE for k in theirs} | {"token": "x" * 300, "public_token": "%00" * 3, "code": "%00" * 9}
    for s in sessions(app, admin, member):
        for rule in walkable_rules(app):
            if rule.endpoint in PUBLIC_LINKS:
                variants = [huge]
            elif not rule.arguments:
                continue
            else:
                variants = [theirs, huge]
            for values in variants:
                path = url_for_rule(app, rule, values)
                for method in METHODS:
                    for htmx in (False, True):
                        response = request(s, method, path, data=dict(PLAUSIBLE), htmx=htmx)
                        assert response.status_code < 500, (method, path, response.status_code)
                        if rule.arguments and values is theirs and method in rule.methods:
                            assert response.status_code in (302, 400, 403, 404, 409), (method, path)
    after = snapshot()
    changed = [t for t in before if before[t] != after[t]]
    assert changed == []


@pytest.mark.parametrize("body", ["nul", "oversized", "files", "empty", "wrong_types"])
def test_malformed_input_on_every_route_is_never_a_500(app, world, admin, member, body):
    ours = world["own"]
    data = {
        "nul": {f: "a\x00b" for f in FIELDS},
        "oversized": {"title": "x" * (2 * 1024 * 1024)},
        "files": {f: (io.BytesIO(b"\x00\xff\xfe" * 100), "evil.exe") for f in FIELDS},
        "empty": {},
        "wrong_types": {f: ["1", "2", "3"] for f in FIELDS} | {"page": "-5", "member_id": "1e9", "index": "NaN"},
    }[body]
    for s in sessions(app, admin, member):
        for rule in walkable_rules(app):
            path = url_for_rule(app, rule, ours)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                for htmx in (False, True):
                    payload = {
                        k: (io.BytesIO(v[0].getvalue()), v[1]) if isinstance(v, tuple) else v for k, v in data.items()
                    }
                    response = request(s, method, path, data=payload, htmx=htmx, query_string=MALFORMED_QUERY)
                    assert response.status_code < 500, (body, method, path)


text = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    [
        "",
        " ",
        "0101901234",
        "010190-1234",
        "０１０１９０１２３４",
        "13585628",
        "１３５８５６２８",
        "2026-02-30",
        "25:61",
        "-1",
        HUGE,
        "true",
        "all",
        "none",
        "page",
        "row",
        "now",
        "later",
        "da",
        "en",
        "<script>",
        "[FIRSTNAME]",
        "[UNKNOWN",
        "\u202e",
        "\ufeff",
        "a" * 5000,
    ]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(fields=st.dictionaries(st.sampled_from(FIELDS), text, max_size=8), htmx=st.booleans())
def test_random_form_fields_on_every_post_route_are_never_a_500(app, world, admin, member, fields, htmx):
    ours = world["own"]
    s = Session(app.test_client())
    s.login(admin if fields.get("role") else member)
    for rule in walkable_rules(app):
        if "POST" not in rule.methods or rule.endpoint in ("auth.login", "auth.set_language"):
            continue
        response = request(s, "POST", url_for_rule(app, rule, ours), data=fields, htmx=htmx)
        assert response.status_code < 500, (rule.rule, fields)
