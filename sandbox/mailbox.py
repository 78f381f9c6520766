"""Citizens' mailboxes: a page per CPR as a citizen would see it, and JSON for tests."""

from flask import Blueprint, abort, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from lxml import etree
from lxml import html as lxml_html

from digitalpost.identifiers import InvalidCPR, mask_cpr, normalize_cpr
from sandbox.models import DeliveredMessage, db
from views.redirects import safe_next

bp = Blueprint("mailbox", __name__)


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
    typed = request.args.get("cpr")
    if typed is None:
        return render_template("mailbox_ask.html", error=None, typed="")
    try:
        return redirect(url_for("mailbox.show", cpr=normalize_cpr(typed)))
    except InvalidCPR as exc:
        return render_template("mailbox_ask.html", error=cpr_error(exc), typed=typed), 400


@bp.get("/mailbox/<cpr>")
def show(cpr):
    try:
        cpr = normalize_cpr(cpr)
    except InvalidCPR as exc:
        return render_template("mailbox_ask.html", error=cpr_error(exc), typed=""), 400
    return render_template(
        "mailbox.html", cpr=cpr, masked=mask_cpr(cpr), messages=delivered_to(cpr), plain_text=plain_text
    )


@bp.get("/sandbox/api/mailbox/<cpr>")
def api_mailbox(cpr):
    try:
        cpr = normalize_cpr(cpr)
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
