"""Error pages: a full page, or a small fragment for HTMX requests."""

import logging

from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

from views.rendering import is_fragment

log = logging.getLogger(__name__)


def messages() -> dict:
    return {
        400: _("The request could not be understood. Reload the page and try again."),
        403: _("You do not have permission to see this page."),
        404: _("The page was not found."),
        405: _("That is not possible here."),
        409: _("Something changed in the meantime. Reload the page and try again."),
        413: _("What was sent is too large. Shorten it and try again."),
        429: _("Too many attempts. Wait a little and try again."),
        500: _("Something went wrong on our side. Try again in a moment."),
    }


def titles() -> dict:
    return {
        400: _("The request could not be read"),
        403: _("No access"),
        404: _("Page not found"),
        405: _("Not possible here"),
        409: _("Something changed"),
        413: _("Too large"),
        429: _("Too many attempts"),
        503: _("Temporarily unavailable"),
    }


def render_error(code: int, message: str | None = None):
    message = message or messages().get(code, messages()[500])
    title = titles().get(code, _("Something went wrong"))
    fragment = is_fragment()
    template = "errors/_error.html" if fragment else "errors/error.html"
    return render_template(template, code=code, title=title, message=message, fragment=fragment), code


def register(app):
    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def redis_unavailable(error):
        # Pages that only read work without Redis; what needs the queue, the
        # selection or a rate limit's counter ends here, before any change.
        log.warning("Redis unavailable at %s %s: %s", request.method, request.path, error)
        return render_error(
            503,
            _(
                "A service Postbud needs is not reachable right now, so this could not be done. "
                "Nothing was changed. Try again in a moment."
            ),
        )

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, _("Your session has expired or the form is stale. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error):
        return render_error(error.code or 500)

    @app.errorhandler(500)
    def server_error(error):
        return render_error(500)
