"""Issue 22, item 12: every letter ends with why it was sent (the
organization's own sentence, set by the admin), that answering is
voluntary, how the CPR number is used and when it is deleted, and the
decline link, in the recipient's language; the answer page shows the same."""

import re

from sqlalchemy import select

from models import AuditEvent, db
from tests.test_sharing import CPRS, ENGLISH, compose, confirm, survey, with_access  # noqa: F401  (fixtures)

LIST = "fornavn;cpr;sprog\nAnne;0101901234;da\nBo;0202901234;en\n"
PURPOSE_DA = "Testkommune spørger borgere om hjemmeplejen for at gøre den bedre."
PURPOSE_EN = "Testkommune asks citizens about home care to make it better."


def set_purpose(as_admin, org, **values):
    page = as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert "Beskyttelse af borgere" in page
    form = {
        "purpose_da": "",
        "purpose_en": "",
        "cap_invitations": "2",
        "cap_letters": "4",
        "cap_days": "30",
        "daily_per_member": "20000",
        "daily_per_org": "200000",
        "draft_days": "30",
    } | values
    return as_admin.post(f"/orgs/{org.id}/settings/citizens", form, htmx=True)


def test_every_letter_says_why_in_the_recipients_language(
    as_member, admin, survey, with_access, sandbox, run_jobs, org, app, client
):
    from conftest import Session

    as_admin = Session(app.test_client())
    as_admin.login(admin)
    saved = set_purpose(as_admin, org, purpose_da=PURPOSE_DA, purpose_en=PURPOSE_EN)
    assert saved.status_code == 200 and "Gemt." in saved.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "policy.changed"))

    draft, schedule = compose(as_member, survey, LIST, **ENGLISH)
    confirm(as_member, draft, schedule)
    run_jobs()
    anne, bo = (sandbox.mailbox(c)[0]["text"] for c in CPRS[:2])
    for text, heading, purpose, voluntary, cpr in (
        (anne, "Hvorfor du får dette brev", PURPOSE_DA, "Det er frivilligt at svare.", "CPR-nummer"),
        (bo, "Why you get this letter", PURPOSE_EN, "Answering is voluntary.", "CPR number"),
    ):
        block = text.split("\n\n")[-1].split("\n")
        assert block[:3] == [heading, purpose, voluntary]
        assert cpr in block[3] and "7" in block[3]
        assert re.search(r"https?://\S+/r/[\w-]+/decline$", block[4])

    # The decline link asks once, in the recipient's language; the answer page shows the block too.
    decline = re.search(r"(https?://\S+/decline)$", bo).group(1)
    asked = client.get(decline).get_data(as_text=True)
    assert "No thanks" in asked and 'method="post"' in asked
    answer_page = client.get(decline.removesuffix("/decline")).get_data(as_text=True)
    assert "Why you get this letter" in answer_page and PURPOSE_EN in answer_page
    assert "Answering is voluntary." in answer_page


def test_the_reason_is_checked_at_its_field(as_admin, org):
    for value, message in [
        ("x" * 301, "højst være 300 tegn"),
        ("Ring på 0101901234 for hjælp.", "Udelad CPR-numre"),
        ("Bip\x07", "kontroltegn"),
    ]:
        response = set_purpose(as_admin, org, purpose_da=value)
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and message in body, body
    response = set_purpose(as_admin, org, cap_invitations="3", cap_letters="2")
    assert response.status_code == 422 and "mindst lige så mange som invitationerne" in response.get_data(as_text=True)


def test_a_confirmed_share_keeps_the_reason_it_was_confirmed_with(
    as_member, admin, survey, with_access, sandbox, run_jobs, org
):
    """A repeated send must be the same letter (a replay, not a conflict at
    the gateway): what an admin writes after the share is confirmed goes
    into later shares only."""
    from models.policy import set_policy

    set_policy(org.id, admin.id, purpose_da=PURPOSE_DA)
    db.session.commit()
    draft, schedule = compose(as_member, survey, LIST)
    confirm(as_member, draft, schedule)
    set_policy(org.id, admin.id, purpose_da="Et helt andet formål.")
    db.session.commit()
    run_jobs()
    assert PURPOSE_DA in sandbox.mailbox(CPRS[0])[0]["text"]
    assert "Et helt andet formål." not in sandbox.mailbox(CPRS[0])[0]["text"]


def test_the_days_a_draft_is_kept_are_the_admins_to_set_within_a_year(as_admin, org):
    from models.policy import policy_of

    for bad in ("0", "366", "syv", ""):
        response = set_purpose(as_admin, org, draft_days=bad)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and 'id="draft_days-error"' in page, bad
    assert set_purpose(as_admin, org, draft_days="90").status_code == 200
    db.session.expire_all()
    assert policy_of(org.id).draft_days == 90
    log = as_admin.get(f"/orgs/{org.id}/settings/audit/").get_data(as_text=True)
    assert "kladder gemmes: 90 dage" in log
