"""Recipients into a draft share: typed in, pasted, or uploaded as CSV or
Excel, with hostile files. Over HTTP with HTMX headers, as the page sends them."""

import io
import json

import pytest
from sqlalchemy import func, or_, select
from sqlalchemy import text as sa_text

from models import Recipient, RecipientCpr, RecipientImport, db
from tests.test_sharing import start_draft, survey, with_access  # noqa: F401  (fixtures)

HEADER = "firstname;lastname;cpr;language\n"


@pytest.fixture
def draft(as_member, survey, with_access):
    return start_draft(as_member, survey)


def recipients():
    """Those on the list: typed in, or from an accepted import."""
    accepted = select(RecipientImport.id).where(RecipientImport.accepted)
    return db.session.scalars(
        select(Recipient)
        .where(or_(Recipient.import_id.is_(None), Recipient.import_id.in_(accepted)))
        .order_by(Recipient.id)
    ).all()


def upload(as_member, draft, content: bytes, name="modtagere.csv"):
    return as_member.post(
        draft + "/recipients/upload",
        {"file": (io.BytesIO(content), name)},
        htmx=True,
        content_type="multipart/form-data",
    )


def test_manual_needs_only_a_cpr_and_explains_bad_ones_at_the_field(as_member, draft):
    ok = as_member.post(draft + "/recipients/manual", {"cpr": "010190 1234", "language": "da"}, htmx=True)
    assert ok.status_code == 200 and "1 modtager på listen" in ok.get_data(as_text=True)
    for value, message in [
        ("", "Angiv CPR-nummeret"),
        ("3213901234", "dato"),
        ("０１０１９０-１２３４", "10 cifre"),
        ("12345", "10 cifre"),
    ]:
        bad = as_member.post(draft + "/recipients/manual", {"cpr": value, "language": "da"}, htmx=True)
        assert bad.status_code == 422 and message in bad.get_data(as_text=True), value
    again = as_member.post(draft + "/recipients/manual", {"cpr": "0101901234", "language": "da"}, htmx=True)
    assert again.status_code == 422 and "allerede på listen" in again.get_data(as_text=True)
    long_name = as_member.post(draft + "/recipients/manual", {"cpr": "0202901234", "first_name": "x" * 101}, htmx=True)
    assert long_name.status_code == 422
    assert [r.cpr_masked for r in recipients()] == ["010190-****"]


def test_paste_with_or_without_header_and_either_delimiter(as_member, draft):
    as_member.post(draft + "/recipients/paste", {"text": "Anne,Hansen,0101901234,da\nBo,Berg,0202901234,en"}, htmx=True)
    as_member.post(draft + "/recipients/paste", {"text": HEADER + "Carl;Dahl;0303901234;EN\n\n\n"}, htmx=True)
    rows = [(r.first_name, r.last_name, r.language) for r in recipients()]
    assert rows == [("Anne", "Hansen", "da"), ("Bo", "Berg", "en"), ("Carl", "Dahl", "en")]


def test_paste_with_old_mac_line_ends_and_a_huge_field(as_member, draft):
    response = as_member.post(draft + "/recipients/paste", {"text": "0101901234\r0202901234\r"}, htmx=True)
    assert response.status_code == 200 and len(recipients()) == 2
    response = as_member.post(draft + "/recipients/paste", {"text": '"' + "x" * 200_000 + '"'}, htmx=True)
    assert response.status_code == 422 and 'id="text-error"' in response.get_data(as_text=True)


def test_failed_rows_are_reported_and_the_member_chooses(as_member, draft):
    # 40 rows; every tenth has a CPR whose date does not exist; the last repeats the first's CPR.
    lines = [HEADER.strip()] + [
        f"P{i};Q;{'3213901234' if i % 10 == 0 else f'{i % 28 + 1:02d}0190{1000 + i}'};da" for i in range(1, 41)
    ]
    lines.append("Dup;Licate;" + lines[1].split(";")[2] + ";da")
    response = as_member.post(draft + "/recipients/paste", {"text": "\n".join(lines)}, htmx=True)
    page = response.get_data(as_text=True)
    assert "Nogle rækker kunne ikke bruges" in page
    assert "321390-****" in page and "3213901234" not in page  # masked in the report
    assert "dato" in page
    imp = db.session.scalar(select(RecipientImport))
    assert (imp.rows, imp.failed, imp.duplicates, imp.valid) == (41, 4, 1, 36)
    assert [f["row"] for f in imp.failures] == [11, 21, 31, 41]
    assert recipients() == []  # nothing joins the list before the member decides

    # Fix the file: nothing stays behind.
    as_member.post(f"{draft}/imports/{imp.id}/discard", htmx=True)
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0
    assert db.session.scalar(select(func.count()).select_from(RecipientCpr)) == 0
    # Go on with the valid rows.
    as_member.post(draft + "/recipients/paste", {"text": "\n".join(lines)}, htmx=True)
    imp = db.session.scalar(select(RecipientImport))
    response = as_member.post(f"{draft}/imports/{imp.id}/accept", htmx=True)
    assert json.loads(response.headers["HX-Trigger"])["showMessage"]["text"].startswith("36 modtagere er tilføjet")
    assert len(recipients()) == 36
    # A double click on the same choice changes nothing.
    as_member.post(f"{draft}/imports/{imp.id}/accept", htmx=True)
    assert len(recipients()) == 36


@pytest.mark.parametrize("encoding,bom", [("utf-8", True), ("utf-8", False), ("cp1252", False)])
def test_danish_spreadsheet_exports(as_member, draft, encoding, bom):
    text = "fornavn;efternavn;cpr;sprog;kommune\nSøren;Ærø;0101901234;da;Århus\nÅse;Øster;0202901234;en;Ølstykke\n"
    content = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
    response = upload(as_member, draft, content)
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = recipients()
    assert [(r.first_name, r.last_name, r.variables) for r in rows] == [
        ("Søren", "Ærø", {"KOMMUNE": "Århus"}),
        ("Åse", "Øster", {"KOMMUNE": "Ølstykke"}),
    ]


def test_excel_upload_with_background_variables(as_member, draft):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Fornavn", "Efternavn", "CPR", "Sprog", "Afdeling"])
    sheet.append(["Anne", "Hansen", 101901234, "da", "Nord"])  # a CPR Excel took for a number
    sheet.append(["Bo", "Berg", "0202901234", "en", "Syd"])
    data = io.BytesIO()
    book.save(data)
    response = upload(as_member, draft, data.getvalue(), "liste.xlsx")
    assert response.status_code == 200
    rows = recipients()
    assert [(r.first_name, r.cpr_masked, r.variables) for r in rows] == [
        ("Anne", "010190-****", {"AFDELING": "Nord"}),
        ("Bo", "020290-****", {"AFDELING": "Syd"}),
    ]
    message = as_member.get(draft + "/message").get_data(as_text=True)
    assert "[AFDELING]" in message


def test_each_text_is_held_to_its_own_limit_and_the_first_failing_column_is_named(as_member, draft):
    """Names up to 100 characters, background values up to 500: a value of
    200 passes where a name of 101 does not, and a row with two faults names
    the first of its columns."""
    rows = [
        "fornavn;efternavn;cpr;afdeling",
        f"{'N' * 100};Berg;0101901234;{'v' * 500}",  # at both limits
        f"{'N' * 101};Berg;0202901234;Nord",
        f"Bo;{'B' * 101};0303901234;Nord",
        f"Bo;Berg;0404901234;{'v' * 200}",  # longer than a name may be, within a value's limit
        f"Bo;Berg;0505901234;{'v' * 501}",
        f"Bo\x07;{'B' * 101};0606901234;Nord",  # two faults: the first column's
        "Bo;Berg;0707901234;Sal\x07g",
    ]
    as_member.post(draft + "/recipients/paste", {"text": "\n".join(rows)}, htmx=True)
    imp = db.session.scalar(select(RecipientImport))
    assert [(f["row"], f["error"], f["column"]) for f in imp.failures] == [
        (3, "too_long", "first_name"),
        (4, "too_long", "last_name"),
        (6, "too_long", "AFDELING"),
        (7, "control_characters", "first_name"),
        (8, "control_characters", "AFDELING"),
    ]
    assert imp.valid == 2


@pytest.mark.parametrize(
    "content,name,message",
    [
        (b"", "tom.csv", "ingen rækker"),
        (b"\x00\x01\x02\x89PNG binary", "billede.csv", "hverken en CSV-fil"),
        (b"PK\x03\x04 not really a zip", "liste.xlsx", "kunne ikke læses som en Excel-fil"),
        (b"fornavn;adresse\nAnne;Vej 1\n", "liste.csv", "ingen cpr-kolonne"),
        (b"\n\n\n", "blank.csv", "ingen rækker"),
    ],
)
def test_files_that_are_not_recipient_lists(as_member, draft, content, name, message):
    response = upload(as_member, draft, content, name)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_hostile_names_are_shown_as_text(as_member, draft):
    as_member.post(draft + "/recipients/paste", {"text": "=cmd();<script>alert(1)</script>;0101901234;da"}, htmx=True)
    page = as_member.get(draft + "/recipients").get_data(as_text=True)
    assert "=cmd() &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


def test_a_file_over_the_size_limit_is_refused_before_reading(as_member, draft, app, monkeypatch):
    monkeypatch.setattr(app.view_functions["shares.add_upload"], "body_limits", (1024, 1024))
    response = upload(as_member, draft, b"cpr\n" + b"0101901234\n" * 200)
    assert response.status_code == 422 and "for stor" in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#upload-feedback"
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_over_the_recipient_limit_nothing_is_added(as_member, draft, app, monkeypatch):
    monkeypatch.setitem(app.config, "SHARE_MAX_RECIPIENTS", 3)
    text = "\n".join(f"{d:02d}0190123{d % 10}" for d in range(1, 6))
    response = as_member.post(draft + "/recipients/paste", {"text": text}, htmx=True)
    assert response.status_code == 422 and "højst have 3 modtagere" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_cprs_are_encrypted_and_hashed_never_stored_in_clear(as_member, draft):
    as_member.post(draft + "/recipients/paste", {"text": "0101901234"}, htmx=True)
    from crypto import decrypt

    row = db.session.execute(select(Recipient.__table__)).mappings().one()
    secret = db.session.execute(select(RecipientCpr.__table__)).mappings().one()
    assert "0101901234" not in " ".join(str(v) for v in [*row.values(), *secret.values()])
    assert decrypt(secret["cpr_encrypted"]) == "0101901234"
    assert secret["cpr_hmac"] == row["cpr_hmac"]


def test_an_import_while_a_key_is_rotated_encrypts_under_the_new_key(as_member, draft, app, monkeypatch):
    """With a new key first in ENCRYPTION_KEYS, a pasted list's CPRs still
    open once the old key is dropped: the import encrypted under the new one."""
    from cryptography.fernet import Fernet

    from crypto import decrypt

    new = Fernet.generate_key().decode()
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", f"{new},{app.config['ENCRYPTION_KEYS']}")
    as_member.post(draft + "/recipients/paste", {"text": "0101901234\n0202901234"}, htmx=True)
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", new)
    stored = db.session.scalars(select(RecipientCpr.cpr_encrypted)).all()
    assert sorted(decrypt(token) for token in stored) == ["0101901234", "0202901234"]


def test_a_draft_left_past_the_organizations_days_is_deleted_with_all_it_held(as_member, survey, with_access):
    from datetime import timedelta

    from models import Share
    from models.base import utcnow
    from models.sharing.lifecycle import expire_drafts

    old = start_draft(as_member, survey)
    as_member.post(old + "/recipients/paste", {"text": "0101901234\n3213901234"}, htmx=True)  # a pending import
    db.session.execute(db.update(Share).values(created_at=utcnow() - timedelta(days=31)))
    db.session.commit()
    start_draft(as_member, survey)  # starting another keeps it
    assert db.session.scalar(select(func.count()).select_from(Share)) == 2
    assert expire_drafts() == 1  # past the default 30 days, housekeeping deletes it
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Share)) == 1
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0
    assert db.session.scalar(select(func.count()).select_from(RecipientImport)) == 0
    assert db.session.scalar(select(func.count()).select_from(RecipientCpr)) == 0


def test_the_upload_step_states_the_limits_the_import_enforces(as_member, survey, with_access, app):
    draft = start_draft(as_member, survey)
    page = as_member.get(draft + "/recipients?method=upload").get_data(as_text=True)
    assert (app.config["SHARE_MAX_RECIPIENTS"], app.config["SHARE_UPLOAD_MAX_MB"]) == (1_000_000, 128)
    assert "Højst 1.000.000 modtagere og 128 MB." in page


@pytest.mark.parametrize("app", [{"SHARE_MAX_RECIPIENTS": 2, "SHARE_UPLOAD_MAX_MB": 1}], indirect=True)
def test_the_limits_are_settings_the_page_and_the_import_both_follow(as_member, survey, with_access):
    draft = start_draft(as_member, survey)
    page = as_member.get(draft + "/recipients?method=upload").get_data(as_text=True)
    assert "Højst 2 modtagere og 1 MB." in page
    response = upload(as_member, draft, b"cpr\n" + b"0101901234\n" * 250_000)  # 2.7 MB: past the slack for the form
    assert response.status_code == 422 and "Filen er for stor (højst 1 MB)." in response.get_data(as_text=True)
    response = upload(as_member, draft, b"cpr\n0101901234\n0202901234\n0303901234\n")
    assert response.status_code == 422 and "højst have 2 modtagere" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_the_danish_hints_name_the_danish_columns_and_merge_fields(as_member, draft):
    page = as_member.get(draft + "/recipients?method=paste").get_data(as_text=True)
    assert "Kolonnerne fornavn, efternavn, cpr, sprog" in page and "firstname, lastname, cpr, language," not in page
    as_member.post(draft + "/recipients/paste", {"text": "0101901234"}, htmx=True)
    message = as_member.get(draft + "/message").get_data(as_text=True)
    assert "<code>[FORNAVN]</code> <code>[EFTERNAVN]</code>" in message and "[FIRSTNAME]" not in message


def test_the_report_names_who_each_failed_row_is_in_right_plurals(as_member, draft):
    text = "fornavn;efternavn;cpr\nAnne;Hansen;0101901234\nBo;Berg;3213901234\nÅse;Ødegård;12345\n"
    page = as_member.post(draft + "/recipients/paste", {"text": text}, htmx=True).get_data(as_text=True)
    assert "1 række er gyldig, 2 rækker fejlede." in " ".join(page.split())
    assert '<td class="wrap">Bo Berg</td>' in page and '<td class="wrap">Åse Ødegård</td>' in page
    assert "321390-****" in page and "3213901234" not in page
    # A name that holds a CPR number is not shown, nor kept.
    page = as_member.post(draft + "/recipients/paste", {"text": "fornavn;cpr\n0101901234;12\n"}, htmx=True)
    assert "0101901234" not in page.get_data(as_text=True)
    from models import RecipientImport

    assert all(
        f["name"] == ""
        for f in db.session.scalar(select(RecipientImport).order_by(RecipientImport.id.desc()).limit(1)).failures
    )


def test_the_upload_tab_offers_a_template_that_imports_as_it_is(as_member, draft):
    page = as_member.get(draft + "/recipients?method=upload").get_data(as_text=True)
    assert "/recipients/template.csv" in page and "Hent en skabelon (CSV)" in page
    template = as_member.get(draft + "/recipients/template.csv")
    assert template.mimetype == "text/csv" and 'filename="modtagere.csv"' in template.headers["Content-Disposition"]
    body = template.get_data()
    assert body.decode("utf-8-sig").splitlines() == ["fornavn;efternavn;cpr;sprog", "Anne;Jensen;010190-1234;da"]
    response = upload(as_member, draft, body, "modtagere.csv")
    assert response.status_code == 200 and "1 modtager på listen" in response.get_data(as_text=True)


# --- the list: search, pages, remove one, correct one ------------------------------


def test_the_list_is_searched_paged_and_corrected_row_by_row(as_member, draft, app):
    import html
    import re

    from models.base import PER_PAGE

    lines = ["fornavn;efternavn;cpr"] + [
        f"Person{i:03d};Hansen;0101{70 + i % 30:02d}{1000 + i:04d}" for i in range(PER_PAGE + 5)
    ]
    lines.append("Åse;Ødegård;0202901234")
    response = as_member.post(draft + "/recipients/paste", {"text": "\n".join(lines)}, htmx=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Viser 1–{PER_PAGE} af {PER_PAGE + 6}" in page and "Næste side" in page

    # By a part of the name, in any case, and by a whole CPR number; never a CPR in clear.
    found = as_member.get(draft + "/recipients/list?q=ØDEGÅ", htmx=True).get_data(as_text=True)
    assert "Åse Ødegård" in found and "Person000" not in found and "Viser 1–1 af 1" in found
    found = as_member.post(draft + "/recipients/list", {"q": "020290-1234"}, htmx=True).get_data(as_text=True)
    assert "Åse Ødegård" in found and "Viser 1–1 af 1" in found
    assert "0202901234" not in found and "020290-1234" not in html.unescape(found)  # not in a link either
    second = as_member.get(draft + "/recipients/list?page=2", htmx=True).get_data(as_text=True)
    assert f"Viser {PER_PAGE + 1}–{PER_PAGE + 6} af {PER_PAGE + 6}" in second and "Forrige" in second

    ase = db.session.scalar(select(Recipient).where(Recipient.first_name == "Åse"))
    # Correct her: the dialog's form, a bad value at its field, then saved.
    form = as_member.get(f"{draft}/recipients/{ase.id}/edit", htmx=True).get_data(as_text=True)
    assert 'value="Åse"' in form and "020290-****" in form
    bad = as_member.post(
        f"{draft}/recipients/{ase.id}/edit",
        {"fix-first_name": "Åse 0101901234", "fix-last_name": "Ø", "fix-language": "da"},
        htmx=True,
    )
    assert bad.status_code == 422 and 'id="fix-first_name-error"' in bad.get_data(as_text=True)
    bad = as_member.post(
        f"{draft}/recipients/{ase.id}/edit",
        {"fix-first_name": "Åse", "fix-last_name": "Ø", "fix-language": "xx"},
        htmx=True,
    )
    assert bad.status_code == 422 and 'id="fix-language-error"' in bad.get_data(as_text=True)
    db.session.refresh(ase)
    assert (ase.last_name, ase.language) == ("Ødegård", "da")
    saved = as_member.post(
        f"{draft}/recipients/{ase.id}/edit",
        {"fix-first_name": "Aase", "fix-last_name": "Ødegaard", "fix-language": "en"},
        htmx=True,
    )
    assert saved.status_code == 200 and saved.headers["HX-Retarget"] == "#compose"
    events = json.loads(saved.headers["HX-Trigger"])
    assert events["closeDialog"] and "rettet" in events["showMessage"]["text"]
    db.session.refresh(ase)
    assert (ase.first_name, ase.last_name, ase.language, ase.name_folded) == ("Aase", "Ødegaard", "en", "aase ødegaard")

    # Remove her; again (a double click) removes nobody else.
    removed = as_member.post(f"{draft}/recipients/{ase.id}/remove", {"q": "", "page": "1"}, htmx=True)
    assert "Aase Ødegaard er fjernet fra listen" in json.loads(removed.headers["HX-Trigger"])["showMessage"]["text"]
    assert f"{PER_PAGE + 5} modtagere på listen" in removed.get_data(as_text=True)
    again = as_member.post(f"{draft}/recipients/{ase.id}/remove", {"q": "", "page": "1"}, htmx=True)
    assert "ikke længere på listen" in json.loads(again.headers["HX-Trigger"])["showMessage"]["text"]
    assert len(recipients()) == PER_PAGE + 5
    assert db.session.scalar(select(func.count()).select_from(RecipientCpr)) == PER_PAGE + 5
    assert re.search(r"0202901234", as_member.get(draft + "/recipients").get_data(as_text=True)) is None


def test_another_drafts_recipient_cannot_be_removed_or_corrected(as_member, draft, survey):
    from tests.test_sharing import start_draft as new_draft

    as_member.post(draft + "/recipients/paste", {"text": "Anne;Hansen;0101901234"}, htmx=True)
    anne = db.session.scalar(select(Recipient))
    other = new_draft(as_member, survey)
    assert as_member.post(f"{other}/recipients/{anne.id}/remove", {}, htmx=True).status_code == 200
    assert as_member.get(f"{other}/recipients/{anne.id}/edit", htmx=True).status_code == 404
    post = as_member.post(
        f"{other}/recipients/{anne.id}/edit",
        {"fix-first_name": "X", "fix-last_name": "Y", "fix-language": "da"},
        htmx=True,
    )
    assert post.status_code == 404
    db.session.refresh(anne)
    assert (anne.first_name, len(recipients())) == ("Anne", 1)
    assert as_member.post(f"{draft}/recipients/{anne.id}/remove", {}, csrf=False).status_code == 400


def test_a_search_of_a_large_list_walks_its_start_then_asks_the_index(as_member, draft, monkeypatch):
    """Issue 25, item 2: a name common at the list's start fills the page
    from a short walk and says "more than"; one found only further on, or
    rarely, or of two letters, is paged and counted exactly. The window is
    60 rows here, 20,000 in the product."""
    import models.sharing.status

    monkeypatch.setattr(models.sharing.status, "SEARCH_WALK", 60)
    names = [("Hans", "Hansen")] * 55 + [("Anne", "Andersen")] * 5 + [("Ole", "Østergaard")] * 55
    names += [("Zofia", "Kowalski")] + [("Bo", "Berg")] * 14 + [("Mette", "Holm-4711"), ("Jens", "Lund-4711")]
    lines = ["fornavn;efternavn;cpr"] + [
        f"{first};{last};{1 + i % 28:02d}{1 + i // 28:02d}90{1000 + i:04d}" for i, (first, last) in enumerate(names)
    ]
    assert as_member.post(draft + "/recipients/paste", {"text": "\n".join(lines)}, htmx=True).status_code == 200

    def search(q, page=1):
        return as_member.get(draft + "/recipients/list", query_string={"q": q, "page": page}, htmx=True).get_data(
            as_text=True
        )

    common = search("hansen")
    assert "Viser 1–50 af mere end 50" in common and "Anne Andersen" not in common and "Næste side" in common
    assert "Viser 51–55 af 55" in search("hansen", 2)
    further = search("ØSTERGAARD")
    assert "Viser 1–50 af 55" in further and "Ole Østergaard" in further and "Hans Hansen" not in further
    assert "Viser 51–55 af 55" in search("østergaard", 2)
    assert "Viser 1–1 af 1" in search("kowal") and "Zofia Kowalski" in search("kowal")
    assert "Viser 1–14 af 14" in search("bo")
    assert "Viser" not in search("zzzz")
    # The index is asked for the digits alone (models.planner.indexed_part), the whole name tested after.
    assert "Viser 1–1 af 1" in search("holm-4711") and "Mette Holm-4711" in search("holm-4711")
    assert "Viser 1–2 af 2" in search("4711") and "Viser" not in search("lund-47111")


def test_rows_made_ahead_end_with_their_reader_and_raise_in_its_thread(app):
    """The import's rows are made by a thread of their own (models.bulk.prefetched):
    a failure in making them reaches the importer, and the thread ends when
    the importer stops early."""
    import threading

    from models.bulk import prefetched
    from models.sharing.rows import FileError, ImportRefused

    def rows():
        yield from range(25)
        raise ImportRefused(FileError.TOO_MANY)

    with app.app_context():
        got = []
        with pytest.raises(ImportRefused):
            for chunk in prefetched(rows(), 10, lambda n: n * 2):
                got += chunk
        assert got == [n * 2 for n in range(20)]
        endless = prefetched(iter(int, 1), 10)
        assert next(endless) == [0] * 10
        endless.close()
    assert not [t for t in threading.enumerate() if t.name == "bulk-rows"]


def test_rows_made_ahead_stay_within_three_lists_however_slow_the_writer(app):
    """An import's memory does not grow with its file: while the writer is
    slow (a database that stalls), the thread making the rows stops one
    list ahead of the one waiting, so no more than three lists are alive."""
    import threading
    import weakref

    from models.bulk import prefetched

    size, rows = 10, 200
    live, peak, made, ahead = set(), [0], [0], threading.Event()

    class Row:
        pass

    def source():
        for _ in range(rows):
            row = Row()
            live.add(id(row))
            weakref.finalize(row, live.discard, id(row))
            peak[0] = max(peak[0], len(live))
            made[0] += 1
            if made[0] > 3 * size:
                ahead.set()
            yield row

    with app.app_context():
        seen = 0
        for chunk in prefetched(source(), size):
            seen += len(chunk)
            if seen == size:  # the writer stalls on its first list: the maker runs ahead if it may
                ahead.wait(1)
            chunk = None
        assert seen == rows
    assert peak[0] <= 3 * size, peak[0]


def test_a_large_import_leaves_the_planner_statistics_current(as_member, draft, monkeypatch):
    """PostgreSQL: an import of ANALYZE_AFTER rows or more analyzes the
    recipient tables in its transaction, so that the first page and search
    after it are planned for the rows it wrote, not for the table before."""
    import models.bulk

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's statistics are the worker's housekeeping (extensions.refresh_statistics)")
    monkeypatch.setattr(models.bulk, "ANALYZE_AFTER", 3)
    lines = ["fornavn;cpr"] + [f"Person{i};{1 + i:02d}0190{1000 + i:04d}" for i in range(5)]
    assert as_member.post(draft + "/recipients/paste", {"text": "\n".join(lines)}, htmx=True).status_code == 200
    tuples = db.session.execute(
        sa_text("SELECT relname, reltuples FROM pg_class WHERE relname IN ('recipient', 'recipient_cpr')")
    ).all()
    assert dict(tuples) == {"recipient": 5, "recipient_cpr": 5}
