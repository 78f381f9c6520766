"""Responses that serve HTMX and full page loads from the same partial.

Views decide here, once, whether a request wants a fragment, and give
templates that as a flag (`fragment`); templates do not read headers.
"""

import json

from flask import Response, flash, redirect, render_template
from htmx_flask import make_response, request


def is_fragment() -> bool:
    """An HTMX request that swaps part of the page. A history restore (the
    browser's Back after its cache was emptied) wants the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def targets(element_id: str) -> bool:
    return is_fragment() and request.htmx.target == element_id


def render_fragment(
    template: str, page: str, status: int = 200, *, push_url=None, retarget=None, reswap=None, trigger=None, **context
):
    """The partial alone for an HTMX request; otherwise the full page with the
    partial included where `panel` says, so every URL also works on reload."""
    fragment = is_fragment()
    body = render_template(template if fragment else page, panel=template, fragment=fragment, **context)
    return make_response(body, status, push_url=push_url, retarget=retarget, reswap=reswap, trigger=trigger)


def go_to(url: str):
    """After a change, send the browser to another page: HX-Redirect for
    HTMX (a full load, so the page's messages show), else a 303."""
    if request.htmx:
        return make_response("", 204, redirect=url)
    return redirect(url, 303)


def add_message(response, text: str, category: str = "success"):
    """Show a message: an HX-Trigger event for HTMX, a flash for full pages."""
    if request.htmx:
        events = json.loads(response.headers.get("HX-Trigger", "{}") or "{}")
        events["showMessage"] = {"text": text, "category": category}
        response.headers["HX-Trigger"] = json.dumps(events)
    else:
        flash(text, category)
    return response


def pdf_download(content: bytes, filename: str):
    """A PDF as an attachment (no-store like every page: it may name people)."""
    return Response(
        content,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
