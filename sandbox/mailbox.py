"""Citizens' mailboxes: a page per CPR as a citizen would see it, and JSON for tests.

No CPR travels in a URL (an access log keeps URLs): the CPR is posted, and
the mailbox's address carries it sealed (Fernet, the sandbox's own key).
"""

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, abort, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from lxml import etree
from lxml import html as lxml_html

from digitalpost.identifiers import InvalidCPR, mask_cpr, normalize_cpr
from sandbox.models import DeliveredMessage, db
from views.redirects import safe_next

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
        "mailbox.html", box=box, masked=mask_cpr(cpr), messages=delivered_to(cpr), plain_text=plain_text
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


@bp.post("/sandbox/api/mailbox")
def api_mailbox():
    """The messages delivered to the CPR in the JSON body ({"cpr": "…"})."""
    data = request.get_json(silent=True) or {}
    try:
        cpr = normalize_cpr(str(data.get("cpr", "")))
    except InvalidCPR:
        return jsonify({"error": "invalid_cpr"}), 400
    return jsonify([m.mailbox_json() for m in delivered_to(cpr)])


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
