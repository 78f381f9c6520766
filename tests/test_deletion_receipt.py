"""Issue 22, item 13: when a share's CPR numbers and variables are deleted,
the member and the admin can download a receipt (the share, the time, how
many, by which rule), and the audit log records it."""

import io
import re
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import select

from models import AuditEvent, db
from models.audit import AuditAction
from models.base import utcnow
from models.sharing.schedule import local
from tests.test_sharing import compose, confirm, share_of, survey, with_access  # noqa: F401  (fixtures)

LIST = "fornavn;cpr;afdeling\nAnne;0101901234;Nord\nBo;0202901234;Syd\nCarl;0303901234;Øst\n"


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


def test_after_sending_the_member_and_the_admin_download_the_receipt(
    as_member, admin, survey, with_access, sandbox, run_jobs, org, app
):
    from conftest import Session

    as_admin = Session(app.test_client())
    as_admin.login(admin)
    draft, schedule = compose(as_member, survey, LIST, body="Kære [FORNAVN] i [AFDELING].")
    confirm(as_member, draft, schedule)
    run_jobs()
    assert share_of(draft).cprs_deleted_at is not None

    status = as_member.get(draft + "/").get_data(as_text=True)
    link = re.search(r'href="([^"]+/deletion-receipt)"', status).group(1)
    receipt = as_member.get(link)
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    assert "attachment" in receipt.headers["Content-Disposition"]
    text = text_of(receipt.data)
    share_id = share_of(draft).id
    assert "Kvittering for sletning af CPR-numre" in text
    assert f"#{share_id}" in text and "Trivsel 2026" in text
    assert "Slettede CPR-numre: 3" in text
    assert "Modtagere, hvis baggrundsvariabler blev slettet: 3" in text
    assert "der var ikke mere at sende" in text.lower()
    assert not re.search(r"\d{6}-?\d{4}", text), "no CPR number on the receipt"

    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.CPRS_DELETED)).all()
    assert event.details["count"] == 3 and event.details["share_id"] == share_id
    log = as_admin.get(f"/orgs/{org.id}/settings/audit/").get_data(as_text=True)
    assert "Slettede 3 CPR-numre fra en deling af spørgeskemaet “Trivsel 2026”" in log
    admin_link = re.search(r'href="([^"]+/deletion-receipts/\d+)"', log).group(1)
    assert "Slettede CPR-numre: 3" in text_of(as_admin.get(admin_link).data)
    # Only for the member's own shares, and the admin's own organization.
    assert as_member.get(admin_link).status_code in (403, 404)


def test_a_cancelled_share_says_so_on_its_receipt(as_member, survey, with_access, run_jobs):
    draft, schedule = compose(as_member, survey, LIST)
    later = local(utcnow() + timedelta(days=2))
    schedule.update({"when": "later", "date": later.strftime("%Y-%m-%d"), "time": later.strftime("%H:%M")})
    confirm(as_member, draft, schedule)
    cancelled = as_member.post(draft + "/cancel", htmx=True)
    assert cancelled.status_code in (200, 204), cancelled.get_data(as_text=True)
    text = text_of(as_member.get(draft + "/deletion-receipt").data)
    assert "Slettede CPR-numre: 3" in text
    assert "Det planlagte blev annulleret (du annullerede det)" in text
