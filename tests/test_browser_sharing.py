"""The member's whole Digital Post flow in headless Chromium: from the share
page to the message in the sandbox mailbox, and an answer through its link.
In Danish at desktop width and in English at phone width, with axe-core on
every step and no page that scrolls sideways."""

import io
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from conftest import ARTIFACTS, browser_login
from jobs.sending import enqueue_rounds
from models import Response, Survey, db
from models.access import grant_access, selection_of
from models.base import utcnow
from models.sharing import RoundKind
from models.sharing.lifecycle import confirm_share, start_share
from models.sharing.recipients import accept_import, import_file
from models.sharing.schedule import PlannedRound, local
from models.survey import QuestionKind, SurveyState, add_question
from tests.fixtures.browser import PHONE, check_page, htmx_ready

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("active_integration")]

LABELS = {
    "da": dict(
        send="Send med Digital Post",
        manual="Manuelt",
        paste="Kopier/sæt ind",
        upload="Upload",
        cpr="CPR",
        first="Fornavn",
        add_one="Tilføj modtager",
        add_many="Tilføj modtagere",
        next="Næste",
        subject="Emne",
        body="Besked",
        reminder="Tilføj påmindelse",
        confirm="Send invitationer",
        submit="Indsend",
        thanks="Tak. Dit svar er gemt.",
        count="3 modtagere på listen",
        file="CSV- eller Excel-fil",
        sent="Sendt",
        answer="Besvar spørgeskemaet",
        letter="Brev",
        reminder_kind="Påmindelse",
        reminder_subject="Påmindelsens emne",
        own_cpr="Dit eget CPR-nummer",
        test="Send testbrev",
        test_sent="Testbrevet er i Digital Post hos 150385-****.",
    ),
    "en": dict(
        send="Send via Digital Post",
        manual="Manually",
        paste="Copy/paste",
        upload="Upload",
        cpr="CPR",
        first="First name",
        add_one="Add recipient",
        add_many="Add recipients",
        next="Next",
        subject="Subject",
        body="Message",
        reminder="Add reminder",
        confirm="Send invitations",
        submit="Submit",
        thanks="Thank you. Your answer is saved.",
        count="3 recipients on the list",
        file="CSV or Excel file",
        sent="Sent",
        answer="Answer the survey",
        letter="Letter",
        reminder_kind="Reminder",
        reminder_subject="Subject of the reminder",
        own_cpr="Your own CPR number",
        test="Send test letter",
        test_sent="The test letter is in the Digital Post of 150385-****.",
    ),
}


def check(page, name):
    check_page(page, f"share-{name}")


def member_with_survey(org, admin, make_user, language):
    """A member with Digital Post access and an open survey of one question."""
    member = make_user(org, name="Mads Medlem", language=language)
    membership = member.membership_in(org.id)
    grant_access(org.id, admin.id, selection_of(membership.id))
    survey = Survey(org_id=org.id, owner_id=member.id, title="Trivsel 2026", state=SurveyState.OPEN)
    db.session.add(survey)
    add_question(survey, QuestionKind.SINGLE_CHOICE, "Hvor tilfreds er du?", ["Meget", "Lidt"])
    db.session.commit()
    return member, membership, survey


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_member_invites_by_all_three_methods_and_a_citizen_answers(
    language, viewport, page, live_server, app, org, admin, make_user, sandbox, run_jobs, tmp_path
):
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    app.config["PUBLIC_BASE_URL"] = live_server  # the links in the mails point at this server
    t = LABELS[language]
    if viewport:
        page.set_viewport_size(viewport)
    name = f"{language}-{'phone' if viewport else 'desktop'}"

    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/share")
    check(page, f"{name}-1-options")
    page.get_by_role("button", name=t["send"]).click()
    expect(page.locator(".side-menu [aria-current=page]")).to_have_count(1)  # still under Surveys

    # Manually: one person, CPR only required.
    page.get_by_label(t["cpr"], exact=True).fill("010190-1234")
    page.get_by_label(t["first"]).fill("Anne")
    page.get_by_role("button", name=t["add_one"]).click()
    expect(page.locator(".recipient-count")).to_contain_text("1")
    check(page, f"{name}-2-manual")
    # Copy/paste, with a bad row the member chooses to skip.
    page.get_by_role("tab", name=t["paste"]).click()
    page.locator("textarea").fill("Bo;Berg;0202901234;en\nX;Y;3213901234;da")
    page.get_by_role("button", name=t["add_many"]).click()
    expect(page.locator(".import-report")).to_contain_text("321390-****")
    check(page, f"{name}-3-report")
    page.locator(".import-report .button.primary").click()
    # The accepted row is in before the next tab is clicked: a click that
    # lands while the panel is being swapped is lost.
    expect(page.locator(".import-report")).to_have_count(0)
    expect(page.locator(".recipient-count")).to_contain_text("2")
    # Upload a semicolon CSV in Windows-1252, as Excel exports it.
    page.get_by_role("tab", name=t["upload"]).click()
    csv_file = tmp_path / "modtagere.csv"
    csv_file.write_bytes("fornavn;efternavn;cpr;sprog\nSøren;Ærø;0303901234;da\n".encode("cp1252"))
    page.get_by_label(t["file"]).set_input_files(str(csv_file))
    page.get_by_role("button", name=t["upload"], exact=True).click()
    expect(page.locator(".recipient-count")).to_contain_text(t["count"])
    page.get_by_role("link", name=t["next"]).click()

    # The message, with a preview for a real recipient. The preview listens
    # once htmx has processed the swapped step; a person cannot type sooner.
    htmx_ready(page)
    page.get_by_label(t["subject"], exact=True).fill("Spørgeskema om trivsel")
    page.get_by_label(t["body"], exact=True).fill("Kære [FIRSTNAME], vi vil gerne høre fra dig.")
    expect(page.locator(".mail-text")).to_have_text(
        re.compile(r"^Kære Anne, vi vil gerne høre fra dig\.\s+Hvorfor du får dette brev")
    )
    check(page, f"{name}-4-message")
    # The reminder as Anne (Danish) will get it: its own text, from a suggestion.
    page.get_by_label(t["letter"]).select_option(label=t["reminder_kind"])
    expect(page.locator(".mail-subject")).to_have_text("Påmindelse: Vil du svare på vores spørgeskema?")
    page.get_by_label(t["reminder_subject"], exact=True).fill("Husk spørgeskemaet om trivsel")
    expect(page.locator(".mail-subject")).to_have_text("Husk spørgeskemaet om trivsel")
    htmx_ready(page)
    page.get_by_role("button", name=t["next"]).click()

    # Schedule: send now, one reminder; the summary; send.
    page.get_by_role("button", name=t["reminder"]).click()
    expect(page.locator("fieldset.reminder")).to_have_count(1)
    check(page, f"{name}-5-schedule")
    page.get_by_role("button", name=t["next"]).click()
    expect(page.locator("table.summary tbody tr")).to_have_count(2)
    check(page, f"{name}-6-summary")

    # A test letter to one's own Digital Post, exactly as Anne will get it.
    page.get_by_label(t["own_cpr"]).fill("150385-1234")
    page.get_by_role("button", name=t["test"]).click()
    expect(page.locator("#test-letter [role=status]")).to_contain_text("150385-****")
    run_jobs()
    expect(page.locator("#test-letter [role=status]")).to_contain_text(t["test_sent"], timeout=15_000)
    expect(page.get_by_label(t["own_cpr"])).to_have_value("")
    check(page, f"{name}-6b-test-letter")
    mailbox = page.context.new_page()
    if viewport:
        mailbox.set_viewport_size(viewport)
    mailbox.goto(f"{sandbox.url}/mailbox")
    mailbox.fill("#cpr", "150385-1234")
    mailbox.get_by_role("button", name="Åbn postkasse").click()
    expect(mailbox.locator(".mail h2")).to_have_text("Spørgeskema om trivsel")
    expect(mailbox.locator(".mail .mail-text")).to_have_text(
        re.compile(r"^Kære Anne, vi vil gerne høre fra dig\.\s+Hvorfor du får dette brev")
    )
    mailbox.screenshot(path=str(ARTIFACTS / f"share-{name}-6c-test-letter-mailbox.png"), full_page=True)
    mailbox.get_by_role("link", name="Besvar spørgeskemaet").click()
    expect(mailbox.locator(".message-warning")).to_contain_text("Forhåndsvisning fra et testbrev")
    mailbox.get_by_label("Meget").check()
    mailbox.get_by_role("button", name="Indsend").click()
    expect(mailbox.get_by_role("status")).to_contain_text("ikke gemt")
    check(mailbox, f"{name}-6d-test-letter-preview-answered")
    mailbox.close()
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0

    page.get_by_role("button", name=t["confirm"]).click()
    expect(page.locator("h1")).to_have_text("Spørgeskema om trivsel")

    run_jobs()
    page.reload()
    expect(page.locator(".count-delivered .count-n")).to_have_text("3")
    check(page, f"{name}-7-status")

    # The citizen opens the mail's link and answers.
    mail = sandbox.mailbox("0101901234")
    assert [m["text"].split("\n\n")[0] for m in mail] == ["Kære Anne, vi vil gerne høre fra dig."]
    page.goto(mail[0]["actions"][0]["url"])
    page.get_by_label("Meget").check()
    check(page, f"{name}-8-answer")
    page.get_by_role("button", name="Indsend").click()  # Anne's language is Danish
    expect(page.get_by_role("status")).to_have_text("Tak. Dit svar er gemt.")


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_member_sends_again_to_those_whose_message_failed(
    language, viewport, page, app, org, admin, make_user, sandbox, run_jobs
):
    """The gateway down for the whole round: the status page names the
    reason and offers "send again"; with the gateway back, one click sends."""
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    share = start_share(survey, membership)
    share.subject, share.body = "Spørgeskema om trivsel", "Kære [FORNAVN], svar gerne."
    db.session.flush()
    accept_import(share, import_file(share, io.BytesIO(b"fornavn;cpr\nAnne;0101901234\nBo;0202901234\n"), "l.csv"))
    db.session.commit()
    _, rounds = confirm_share(share, [PlannedRound(RoundKind.INVITATION, utcnow())], may_share=True)
    db.session.commit()
    app.config["SEND_RETRY_DELAYS"] = [0]
    sandbox.configure(SANDBOX_FAIL_RATE=1.0)
    enqueue_rounds(rounds)
    run_jobs()
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/")
    again = {
        "da": "Send igen til de 2 modtagere, hvis besked fejlede",
        "en": "Send again to the 2 recipients whose message failed",
    }
    expect(page.get_by_role("button", name=again[language])).to_be_visible()
    check(page, f"retry-{language}-{'phone' if viewport else 'desktop'}-1-failed")
    sandbox.configure(SANDBOX_FAIL_RATE=0.0)
    page.get_by_role("button", name=again[language]).click()
    done = {"da": "2 modtagere får beskeden igen.", "en": "2 recipients get the message again."}
    expect(page.get_by_role("status").filter(has_text=done[language])).to_be_visible()
    run_jobs()
    page.reload()
    expect(page.locator(".count-failed .count-n")).to_have_text("0")
    expect(page.get_by_role("button", name=again[language])).to_have_count(0)
    check(page, f"retry-{language}-{'phone' if viewport else 'desktop'}-2-sent")
    assert [len(sandbox.mailbox(c)) for c in ("0101901234", "0202901234")] == [1, 1]


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_member_cancels_one_reminder_from_the_status_page(language, viewport, page, app, org, admin, make_user):
    """Two reminders planned: one is cancelled, after a question; the
    invitation and the other reminder stay scheduled."""
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    share = start_share(survey, membership)
    share.subject, share.body = "Spørgeskema om trivsel", "Kære [FORNAVN], svar gerne."
    db.session.flush()
    accept_import(share, import_file(share, io.BytesIO(b"fornavn;cpr\nAnne;0101901234\n"), "l.csv"))
    db.session.commit()
    start = utcnow() + timedelta(days=2)
    planned = [PlannedRound(RoundKind.INVITATION, start)] + [
        PlannedRound(RoundKind.REMINDER, start + timedelta(days=d)) for d in (3, 7)
    ]
    _, rounds = confirm_share(share, planned, may_share=True)
    db.session.commit()
    enqueue_rounds(rounds)
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/")
    cancel_one = {"da": "Annullér denne påmindelse", "en": "Cancel this reminder"}[language]
    buttons = page.get_by_role("button", name=re.compile(cancel_one))
    expect(buttons).to_have_count(2)
    check(page, f"cancel-reminder-{language}-{'phone' if viewport else 'desktop'}-1-planned")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    buttons.first.click()
    done = {"da": "Påmindelsen er annulleret.", "en": "The reminder is cancelled."}[language]
    expect(page.get_by_role("status").filter(has_text=done)).to_be_visible()
    expect(buttons).to_have_count(1)
    assert questions and ("Annullér påmindelsen" if language == "da" else "Cancel the reminder") in questions[0]
    check(page, f"cancel-reminder-{language}-{'phone' if viewport else 'desktop'}-2-cancelled")
    db.session.expire_all()
    assert [r.state for r in db.session.get(type(share), share.id).rounds] == ["scheduled", "cancelled", "scheduled"]


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_member_changes_a_reminders_time_and_text(language, viewport, page, app, org, admin, make_user):
    """From the status page to the round's form: a time that breaks the
    schedule is refused at its field; a new time and text are saved and
    listed among the changes."""
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    share = start_share(survey, membership)
    share.subject, share.body = "Spørgeskema om trivsel", "Kære [FORNAVN], svar gerne."
    db.session.flush()
    accept_import(share, import_file(share, io.BytesIO(b"fornavn;cpr\nAnne;0101901234\n"), "l.csv"))
    db.session.commit()
    start = utcnow() + timedelta(days=2)
    planned = [PlannedRound(RoundKind.INVITATION, start), PlannedRound(RoundKind.REMINDER, start + timedelta(days=3))]
    _, rounds = confirm_share(share, planned, may_share=True)
    db.session.commit()
    enqueue_rounds(rounds)
    if viewport:
        page.set_viewport_size(viewport)
    width = "phone" if viewport else "desktop"
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/")
    t = {
        "da": dict(
            change="Ændr tidspunkt eller tekst",
            date="Dato",
            subject="Emne",
            save="Gem ændringen",
            early="efter invitationen",
            done="Påmindelsen er ændret.",
            changed="Ændrede en påmindelse",
        ),
        "en": dict(
            change="Change time or text",
            date="Date",
            subject="Subject",
            save="Save the change",
            early="after the invitation",
            done="The reminder is changed.",
            changed="Changed a reminder",
        ),
    }[language]
    page.get_by_role("link", name=re.compile(t["change"])).nth(1).click()
    expect(page.get_by_label(t["subject"], exact=True)).to_have_value("Påmindelse: Spørgeskema om trivsel")
    check(page, f"change-round-{language}-{width}-1-form")
    # The form's dates are Danish dates (near midnight UTC, another day).
    page.get_by_label(t["date"], exact=True).fill(local(start).strftime("%Y-%m-%d"))
    page.get_by_label(t["date"], exact=True).press("Tab")
    htmx_ready(page)
    page.get_by_role("button", name=t["save"]).click()
    expect(page.locator("#time-error")).to_contain_text(t["early"])
    expect(page.locator(".error-summary")).to_be_visible()
    check(page, f"change-round-{language}-{width}-2-refused")
    later = start + timedelta(days=5)
    page.get_by_label(t["date"], exact=True).fill(local(later).strftime("%Y-%m-%d"))
    page.get_by_label(t["subject"], exact=True).fill("Sidste chance for at svare")
    page.get_by_role("button", name=t["save"]).click()
    expect(page.get_by_text(t["done"])).to_be_visible()
    expect(page.locator(".changes")).to_contain_text(t["changed"])
    check(page, f"change-round-{language}-{width}-3-changed")
    db.session.expire_all()
    reminder = db.session.get(type(share), share.id).rounds[1]
    assert reminder.texts["da"]["subject"] == "Sidste chance for at svare"
    assert local(reminder.send_at).date() == local(later).date()
    assert abs((reminder.send_at - later).total_seconds()) < 60  # the round's own time of day, to the minute


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_draft_list_is_searched_corrected_and_trimmed(language, viewport, page, app, org, admin, make_user):
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    share = start_share(survey, membership)
    db.session.flush()
    rows = "fornavn;efternavn;cpr\nAnne;Hansen;0101901234\nBo;Berg;0202901234\nÅse;Ødegård;0303901234\n"
    accept_import(share, import_file(share, io.BytesIO(rows.encode()), "l.csv"))
    db.session.commit()
    if viewport:
        page.set_viewport_size(viewport)
    width = "phone" if viewport else "desktop"
    t = {
        "da": dict(
            find="Find med navn eller CPR-nummer",
            correct="Ret",
            first="Fornavn",
            save="Gem",
            remove="Fjern",
            fixed="Modtageren er rettet.",
            removed="er fjernet fra listen",
        ),
        "en": dict(
            find="Find by name or CPR number",
            correct="Correct",
            first="First name",
            save="Save",
            remove="Remove",
            fixed="The recipient is corrected.",
            removed="is removed from the list",
        ),
    }[language]
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/recipients")
    htmx_ready(page)
    rows = page.locator("table.draft-recipients tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label(t["find"]).fill("ødeg")
    expect(rows).to_have_count(1)
    check(page, f"draft-list-{language}-{width}-1-found")
    rows.filter(has_text="Åse").get_by_role("button", name=t["correct"]).click()
    dialog = page.locator("#dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label(t["first"]).fill("Aase")
    check(page, f"draft-list-{language}-{width}-2-correct")
    dialog.get_by_role("button", name=t["save"], exact=True).click()
    expect(page.get_by_text(t["fixed"])).to_be_visible()
    expect(dialog).to_be_hidden()
    expect(page.locator("table.draft-recipients")).to_contain_text("Aase Ødegård")
    expect(page.get_by_label(t["find"])).to_have_value("ødeg")  # the search stays as it was
    htmx_ready(page)
    page.get_by_label(t["find"]).fill("")
    expect(rows).to_have_count(3)
    page.once("dialog", lambda d: d.accept())
    rows.filter(has_text="Bo Berg").get_by_role("button", name=t["remove"]).click()
    expect(page.get_by_text(t["removed"])).to_be_visible()
    expect(rows).to_have_count(2)
    check(page, f"draft-list-{language}-{width}-3-removed")


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_results_read_with_charts_rates_and_answers_by_name(language, viewport, page, app, org, admin, make_user):
    from models.survey import Answer, submit_response

    member, membership, survey = member_with_survey(org, admin, make_user, language)
    survey.anonymous = False
    question = survey.questions[0]
    for option in (0, 0, 1, 0, 1):
        submit_response(survey, [Answer(question_id=question.id, option_index=option)], "da")
    db.session.commit()
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/responses")
    expect(page.locator("svg.chart.bars")).to_be_visible()
    expect(page.locator("table.results tbody tr").first).to_contain_text("3")
    check(page, f"results-{language}-{'phone' if viewport else 'desktop'}")


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_message_step_names_the_merge_fields_some_recipients_lack(
    language, viewport, page, app, org, admin, make_user
):
    """Typing [AFDELING] brings a field for those who lack it; the preview of
    such a recipient shows the text written there, and the field keeps its
    value and focus while the preview refreshes."""
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    share = start_share(survey, membership)
    db.session.flush()
    rows = "fornavn;cpr;afdeling\nAnne;0101901234;Nord\nBo;0202901234;\n".encode()
    accept_import(share, import_file(share, io.BytesIO(rows), "l.csv"))
    db.session.commit()
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/message")
    htmx_ready(page)
    t = LABELS[language]
    page.get_by_label(t["subject"], exact=True).fill("Trivsel")
    page.get_by_label(t["body"], exact=True).fill("Kære [FORNAVN] i [AFDELING].")
    lacks = {"da": "1 modtager har ingen værdi for [AFDELING]", "en": "1 recipient has no value for [AFDELING]"}
    fallback = page.get_by_label(lacks[language])
    expect(fallback).to_be_visible()
    page.locator("#preview-recipient").select_option(label="Bo (020290-****)")
    htmx_ready(page)
    fallback.fill("jeres afdeling")
    expect(page.locator(".mail-text")).to_contain_text("Kære Bo i jeres afdeling.")
    expect(fallback).to_be_focused()
    expect(fallback).to_have_value("jeres afdeling")
    check(page, f"merge-gaps-{language}-{'phone' if viewport else 'desktop'}")


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_schedule_asks_only_for_the_times_that_apply(language, viewport, page, app, org, admin, make_user):
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    share = start_share(survey, membership)
    share.subject, share.body = "Trivsel", "Svar gerne."
    db.session.flush()
    accept_import(share, import_file(share, io.BytesIO(b"cpr\n0101901234\n"), "l.csv"))
    db.session.commit()
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/schedule")
    words = {
        "da": dict(later="Planlæg", time="Tidspunkt (dansk tid)", at="På en dato og et tidspunkt"),
        "en": dict(later="Schedule", time="Time (Danish time)", at="At a date and time"),
    }[language]
    invitation_time = page.locator("#time")
    expect(invitation_time).to_be_hidden()  # "Send now" is chosen
    page.get_by_label(words["later"], exact=True).check()
    expect(invitation_time).to_be_visible()
    expect(page.get_by_label(words["time"]).first).to_be_visible()
    page.get_by_role("button", name=LABELS[language]["reminder"]).click()
    reminder = page.locator("fieldset.reminder")
    expect(reminder.locator("input[type=number]")).to_be_visible()
    expect(reminder.locator("input[type=date]")).to_be_hidden()
    reminder.get_by_label(words["at"]).check()
    expect(reminder.locator("input[type=date]")).to_be_visible()
    expect(reminder.locator("input[type=number]")).to_be_hidden()
    steps = page.locator(".steps")
    line = steps.locator("li").first.bounding_box()["height"]
    assert steps.bounding_box()["height"] < 1.5 * line  # the steps keep to one line, on a phone too
    expect(steps.get_by_text("Recipients" if language == "en" else "Modtagere")).to_have_count(1)
    check(page, f"schedule-{language}-{'phone' if viewport else 'desktop'}")


def test_a_new_message_replaces_the_last_and_a_field_error_clears_it(page, app, org, admin, make_user):
    """ "Recipient added" does not stay beside the error of the next try."""
    member, membership, survey = member_with_survey(org, admin, make_user, "da")
    share = start_share(survey, membership)
    db.session.commit()
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/recipients")
    messages = page.locator("#messages li")
    for cpr in ("010190-1234", "020290-1234"):
        page.get_by_label("CPR", exact=True).fill(cpr)
        page.get_by_role("button", name="Tilføj modtager").click()
        expect(page.locator(".recipient-count")).to_contain_text("modtage")
        expect(messages).to_have_count(1)
    page.get_by_label("CPR", exact=True).fill("010190-1234")
    page.get_by_role("button", name="Tilføj modtager").click()
    expect(page.locator("#cpr-error")).to_contain_text("allerede på listen")
    expect(messages).to_have_count(0)


def test_the_recipient_table_follows_the_counts_while_a_round_is_sent(page, app, org, admin, make_user, run_jobs):
    """The table read "Planlagt" beside "2 Sendt": now it reads what the
    counts say, without a reload, and the filter the member set stays."""
    member, membership, survey = member_with_survey(org, admin, make_user, "da")
    share = start_share(survey, membership)
    share.subject, share.body = "Trivsel", "Svar gerne."
    db.session.flush()
    accept_import(share, import_file(share, io.BytesIO(b"fornavn;cpr\nAnne;0101901234\nBo;0202901234\n"), "l.csv"))
    db.session.commit()
    _, rounds = confirm_share(share, [PlannedRound(RoundKind.INVITATION, utcnow())], may_share=True)
    db.session.commit()
    enqueue_rounds(rounds)
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}/")
    rows = page.locator("table.recipients tbody tr")
    expect(rows.filter(has_text="Planlagt")).to_have_count(2)
    page.get_by_label("Søg på navn").fill("Anne")
    expect(rows).to_have_count(1)
    run_jobs()
    expect(page.locator(".count-delivered .count-n")).to_have_text("2")  # sent, then found delivered
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Leveret")  # the row, not only the tile
    expect(page.get_by_label("Søg på navn")).to_have_value("Anne")
    check(page, "status-follows-counts")


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_member_finds_a_draft_again_and_deletes_another(language, viewport, page, app, org, admin, make_user):
    member, membership, survey = member_with_survey(org, admin, make_user, language)
    kept = start_share(survey, membership)
    kept.subject = "Trivsel i efteråret"
    db.session.flush()
    accept_import(kept, import_file(kept, io.BytesIO(b"cpr\n0101901234\n0202901234\n"), "l.csv"))
    start_share(survey, membership)
    db.session.commit()
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/share")
    drafts = page.locator("ul.drafts li")
    expect(drafts).to_have_count(2)
    check(page, f"drafts-{language}-{'phone' if viewport else 'desktop'}")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    drafts.filter(has_not_text="Trivsel i efteråret").get_by_role("button").click()
    expect(drafts).to_have_count(1)
    assert questions
    page.get_by_role("link", name="Trivsel i efteråret").click()
    expect(page.locator(".recipient-count")).to_contain_text("2")
