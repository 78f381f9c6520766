"""Responses that serve HTMX and full page loads from the same partial."""
import json

from flask import flash, render_template, request
from htmx_flask import make_response


def render_fragment(template: str, page: str, status: int = 200, headers=None, **context):
    """The partial alone for an HTMX request; otherwise the full page with the
    partial included where `panel` says, so every URL also works on reload."""
    if request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true":
        body = render_template(template, **context)
    else:
        body = render_template(page, panel=template, **context)
    response = make_response(body, status)
    response.headers.extend(headers or {})
    return response


def add_message(response, text: str, category: str = "success"):
    """Show a message: an HX-Trigger event for HTMX, a flash for full pages."""
    if request.headers.get("HX-Request") == "true":
        events = json.loads(response.headers.get("HX-Trigger", "{}") or "{}")
        events["showMessage"] = {"text": text, "category": category}
        response.headers["HX-Trigger"] = json.dumps(events)
    else:
        flash(text, category)
    return response
