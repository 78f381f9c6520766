"""Member access and deactivation in headless Chromium, as the help pages describe."""

import re

import pytest
from playwright.sync_api import expect

import models.counting
from conftest import ARTIFACTS, PASSWORD, browser_login
from tests.fixtures.browser import PHONE, check_page, htmx_ready

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("active_integration")]


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"access-{name}.png"), full_page=True, caret="initial")


def test_grant_remove_and_deactivate(page, admin, org, make_members):
    make_members(org, [f"Ib Ibsen {i:02d}" for i in range(60)], department="Sundhed")
    make_members(org, [f"Bo Berg {i:02d}" for i in range(10)], department="Kultur", prefix="b")
    browser_login(page, admin)
    page.get_by_role("link", name="Indstillinger").click()
    page.get_by_role("link", name="Medlemsadgang til Digital Post: Aktiveret").click()
    page.get_by_role("link", name="0 medlemmer har adgang").click()
    expect(page).to_have_url(re.compile(r"/access/add$"))
    htmx_ready(page)

    # Filter: a department, then typing searches (debounced); the URL keeps the filter.
    page.get_by_label("Afdeling").select_option("Kultur")
    expect(page).to_have_url(re.compile(r"/access/add\?department=Kultur$"))
    expect(page.locator("#member-table tbody tr")).to_have_count(10)
    page.get_by_label("Afdeling").select_option("")
    expect(page.locator("#member-table tbody tr")).to_have_count(50)
    page.get_by_label("Søg på navn eller e-mail").fill("ib")
    expect(page).to_have_url(re.compile(r"/access/add\?q=ib$"))
    expect(page.locator("#member-table tbody tr")).to_have_count(50)
    expect(page.get_by_text("Viser 1–50 af 60")).to_be_visible()

    page.get_by_label("Vælg alle på siden").check()
    expect(page.get_by_text("50 valgt")).to_be_visible()
    page.get_by_role("button", name="Vælg alle 60 medlemmer, der matcher filteret").click()
    expect(page.get_by_text("60 valgt")).to_be_visible()
    shot(page, "1-selected-all")
    page.get_by_role("button", name="Tilføj", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="60 medlemmer har nu adgang.")).to_be_visible()
    expect(page.get_by_role("link", name="60 medlemmer har adgang")).to_be_visible()
    expect(page.get_by_text("Ingen medlemmer matcher søgningen.")).to_be_visible()

    # Remove: the number, the Actions menu, Remove, pick two, Remove, confirm.
    page.get_by_role("link", name="60 medlemmer har adgang").click()
    expect(page.get_by_role("link", name="Tilføj medlemmer")).to_be_visible()  # the teal plus
    page.get_by_text("Handlinger").click()
    page.get_by_role("menuitem", name="Fjern").click()
    expect(page).to_have_url(re.compile(r"/access/remove$"))
    page.get_by_label("Vælg Ib Ibsen 00").check()
    expect(page.get_by_text("1 valgt")).to_be_visible()
    page.get_by_label("Vælg Ib Ibsen 01").check()
    expect(page.get_by_text("2 valgt")).to_be_visible()
    page.locator("#revoke-button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("2 medlemmer mister adgangen til Digital Post.")
    # The safe choice has the focus: a stray Enter closes the pop-up and removes nobody.
    expect(dialog.get_by_role("button", name="Annuller")).to_be_focused()
    shot(page, "2-remove-dialog")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("2 valgt")).to_be_visible()
    page.locator("#revoke-button").click()
    dialog.get_by_role("button", name="Fjern").click()
    expect(page.get_by_role("status").filter(has_text="2 medlemmer har ikke længere adgang.")).to_be_visible()
    expect(page.get_by_role("link", name="58 medlemmer har adgang")).to_be_visible()
    expect(dialog).to_be_hidden()
    shot(page, "3-after-remove")

    # Deactivate: the pop-up, Deactivate now, the password, Continue.
    page.get_by_role("button", name="Deaktiver integration").click()
    expect(dialog.get_by_role("button", name="Annuller")).to_be_focused()
    shot(page, "4-deactivate-dialog")
    dialog.get_by_role("button", name="Deaktiver nu").click()
    dialog.get_by_label("Adgangskode").fill("not my password")
    dialog.get_by_role("button", name="Fortsæt").click()
    expect(dialog).to_contain_text("Forkert adgangskode. Intet blev ændret.")
    dialog.get_by_label("Adgangskode").fill(PASSWORD)
    dialog.get_by_role("button", name="Fortsæt").click()
    expect(page.get_by_role("link", name="Medlemsadgang til Digital Post: Deaktiveret")).to_be_visible()
    expect(page.get_by_text("Digital Post er deaktiveret.")).to_be_visible()
    shot(page, "5-deactivated")


def test_the_member_table_in_english(page, admin, org, make_members):
    from models import User, db

    admin_user = db.session.get(User, admin.id)
    admin_user.language = "en"
    db.session.commit()
    make_members(org, ["Søren Ærø"])
    browser_login(page, admin)
    page.goto(f"/orgs/{org.id}/settings/digital-post/access/add")
    page.get_by_label("Search name or e-mail").fill("ÆRØ")
    expect(page.locator("#member-table tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Add", exact=True)).to_be_disabled()
    page.get_by_label("Select Søren Ærø").check()
    expect(page.get_by_text("1 selected")).to_be_visible()
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="1 member now has access.")).to_be_visible()
    shot(page, "6-english")


@pytest.mark.parametrize("language,phone", [("da", False), ("en", True)])
def test_a_common_search_in_a_large_organization_says_more_than_and_pages_on(
    language, phone, page, admin, org, make_members, monkeypatch
):
    """Past FIRST_WALK members a search whose sample foretells many matches is
    not counted: the pager says "more than" the page's last row and offers
    the next page, which counts where its walk would be too long."""
    make_members(org, [f"Bo Berg {i:03d}" for i in range(100)] + [f"Ib Ibsen {i:02d}" for i in range(30)])
    monkeypatch.setattr(models.counting, "FIRST_WALK", 60)
    monkeypatch.setattr(models.counting, "FTS_WALKS_FIRST", 100)  # SQLite: as past its FTS5's reach
    monkeypatch.setattr(models.counting, "FEW_MATCHES", 40)  # SQLite: fewer than the 100 of "erg 0"
    # Its sample foretells more matches than are counted, and page 1 (not 2)
    # within WALK_ROWS members: page 1 is walked, page 2 counted.
    monkeypatch.setattr(models.counting, "SEARCH_COUNT_BOUND", 5)
    monkeypatch.setattr(models.counting, "WALK_ROWS", 75)
    if phone:
        page.set_viewport_size(PHONE)
    page.goto("/login")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.get_by_label("E-mail").fill(admin.email)
    page.get_by_label({"da": "Adgangskode", "en": "Password"}[language]).fill(PASSWORD)
    page.get_by_role("button", name={"da": "Log ind", "en": "Log in"}[language]).click()
    page.goto(f"/orgs/{org.id}/settings/digital-post/access/add")
    htmx_ready(page)
    label = {"da": "Søg på navn eller e-mail", "en": "Search name or e-mail"}[language]
    page.get_by_label(label).fill("erg 0")
    more, second = {
        "da": ("Viser 1–50 af mere end 50", "Viser 51–100 af 100"),
        "en": ("Showing 1–50 of more than 50", "Showing 51–100 of 100"),
    }[language]
    expect(page.get_by_text(more)).to_be_visible()
    expect(page.get_by_text({"da": "Side 1 af 2+", "en": "Page 1 of 2+"}[language])).to_be_visible()
    check_page(page, f"access-more-than-{language}-{'phone' if phone else 'desktop'}")
    page.locator("#page-next").click()
    expect(page.get_by_text(second)).to_be_visible()
    expect(page.locator("#member-table tbody tr")).to_have_count(50)
    expect(page.locator("#page-next")).to_have_count(0)
