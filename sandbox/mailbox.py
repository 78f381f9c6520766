"""Citizens' mailboxes: a page per CPR as a citizen would see it, and JSON for tests.

No CPR travels in a URL (an access log keeps URLs): the CPR is posted, and
the mailbox's address carries it sealed (Fernet, the sandbox's own key).
"""

from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, abort, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from lxml import etree
from lxml import html as lxml_html

from digitalpost.identifiers import InvalidCPR, InvalidCVR, mask_cpr, normalize_cpr, normalize_cvr
from sandbox.ca import TestAuthority
from sandbox.models import DeliveredMessage, PrintedLetter, db

bp = Blueprint("mailbox", __name__)


def _fernet() -> Fernet:
    return Fernet(current_app.config["SANDBOX_MAILBOX_KEY"].encode())


def seal(cpr: str) -> str:
    return _fernet().encrypt(cpr.encode()).decode()


def unseal(token: str) -> str:
    try:
        return normalize_cpr(_fernet().decrypt(token.encode()).decode())
    except (InvalidToken, InvalidCPR, ValueError):
        abort(404)


def delivered_to(cpr: str) -> list[DeliveredMessage]:
    messages = db.session.scalars(
        db.select(DeliveredMessage)
        .where(DeliveredMessage.recipient_cpr == cpr)
        .order_by(DeliveredMessage.received_at.desc())
    ).all()
    return [m for m in messages if m.is_delivered()]


def printed_for(cpr: str) -> list[PrintedLetter]:
    return db.session.scalars(
        db.select(PrintedLetter).where(PrintedLetter.recipient_cpr == cpr).order_by(PrintedLetter.received_at.desc())
    ).all()


def safe_next(target: str) -> str | None:
    """A path on this site to go back to: no scheme, no host, no //, no
    backslash and no control characters (the sandbox imports nothing of the app)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 0x20 or c == "\x7f" for c in target) or urlsplit(target).netloc:
        return None
    return target


def cpr_error(error: InvalidCPR) -> str:
    if error.reason == "date":
        return _("The first six digits of a CPR number are a date (DDMMYY). This is not a real date.")
    return _("A CPR number has 10 digits, like 010190-1234.")


@bp.get("/")
def home():
    return redirect(url_for("mailbox.ask"))


@bp.get("/mailbox")
def ask():
    return render_template("mailbox_ask.html", error=None, typed="")


@bp.post("/mailbox")
def open_mailbox():
    typed = request.form.get("cpr", "")
    try:
        return redirect(url_for("mailbox.show", box=seal(normalize_cpr(typed))), 303)
    except InvalidCPR as exc:
        return render_template("mailbox_ask.html", error=cpr_error(exc), typed=typed), 400


@bp.get("/mailbox/<box>")
def show(box):
    cpr = unseal(box)
    return render_template(
        "mailbox.html",
        box=box,
        masked=mask_cpr(cpr),
        messages=delivered_to(cpr),
        printed=printed_for(cpr),
        plain_text=plain_text,
    )


@bp.get("/mailbox/<box>/<message_uuid>/document")
def document(box, message_uuid):
    """A PDF letter, shown by the browser as the citizen's mailbox would."""
    cpr = unseal(box)
    message = db.session.get(DeliveredMessage, message_uuid)
    if message is None or message.recipient_cpr != cpr or message.document is None or not message.is_delivered():
        abort(404)
    response = make_response(message.document)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/mailbox/<box>/printed/<message_uuid>.pdf")
def printed_document(box, message_uuid):
    """A letter from the printed tray, as fjernprint got it."""
    cpr = unseal(box)
    letter = db.session.get(PrintedLetter, message_uuid)
    if letter is None or letter.recipient_cpr != cpr:
        abort(404)
    response = make_response(letter.pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.post("/sandbox/api/printed")
def api_printed():
    """The printed tray of the CPR in the JSON body ({"cpr": "…"})."""
    data = request.get_json(silent=True) or {}
    try:
        cpr = normalize_cpr(str(data.get("cpr", "")))
    except InvalidCPR:
        return jsonify({"error": "invalid_cpr"}), 400
    return jsonify([letter.tray_json() for letter in printed_for(cpr)])


@bp.post("/sandbox/api/mailbox")
def api_mailbox():
    """The messages delivered to the CPR in the JSON body ({"cpr": "…"})."""
    data = request.get_json(silent=True) or {}
    try:
        cpr = normalize_cpr(str(data.get("cpr", "")))
    except InvalidCPR:
        return jsonify({"error": "invalid_cpr"}), 400
    return jsonify([m.mailbox_json() for m in delivered_to(cpr)])


@bp.post("/sandbox/certificate")
def test_certificate():
    """A test system certificate from the sandbox's authority, for the
    wizard's Serviceplatformen path (development only: the real ones come
    from MitID Erhverv)."""
    try:
        cvr = normalize_cvr(request.form.get("cvr", ""))
    except InvalidCVR:
        abort(400)
    passphrase = request.form.get("passphrase", "")[:100] or "sandbox"
    authority = TestAuthority.load_or_create(Path(current_app.config["SANDBOX_CA_DIR"]))
    data = authority.system_certificate(cvr, f"Test authority {cvr}", passphrase)
    response = make_response(data)
    response.headers["Content-Type"] = "application/x-pkcs12"
    response.headers["Content-Disposition"] = f'attachment; filename="sandbox-{cvr}.p12"'
    return response


@bp.get("/language/<language>")
def set_language(language):
    if language not in ("da", "en"):
        abort(404)
    back = request.args.get("next", "")
    response = make_response(redirect(safe_next(back) or url_for("mailbox.ask")))
    response.set_cookie("sandbox_language", language, samesite="Lax", httponly=True)
    return response


def plain_text(message: DeliveredMessage) -> str:
    """The text a citizen reads; an HTML body shown as its text, never as markup."""
    if message.body_format == "text/html":
        try:
            return lxml_html.fromstring(message.body).text_content()
        except etree.ParserError:  # no elements at all, e.g. only a comment
            return ""
    return message.body
