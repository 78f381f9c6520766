"""Postbud: the application factory. `flask --app app ...` finds create_app()
itself, and gunicorn is given `app:create_app()`; importing this module
builds no app."""

import hashlib
import re
from pathlib import Path
from types import SimpleNamespace

from flask import Flask, abort, g, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter
from whitenoise import WhiteNoise

import cli
import config
import formats
import logs
from extensions import babel, compress, csrf, db, htmx, include_in_autogenerate, login_manager, migrate, static_digest
from models import User
from models.access import access_count
from models.members import MAX_QUERY
from models.org import Role
from models.sharing import LANGUAGES
from models.survey import FREE_TEXT_MAX, AnswerOutcome
from views import access, audit, auth, errors, health, integration, orgs, receipts, respond, settings, shares, surveys
from views.forms import MAX_INT, apply_body_limits


def create_app(**overrides) -> Flask:
    app = Flask(__name__, instance_path=str(config.INSTANCE_DIR), instance_relative_config=False)
    app.config.from_object(config.Config(**overrides))
    config.check_public_base_url(app.config)
    config.check_installation(app.config)

    # Ids in URLs beyond any row's would overflow the databases' integers: 404.
    app.url_map.converters["int"] = BoundedInt
    logs.init_app(app)  # first, so every later hook logs with the request id
    db.init_app(app)
    # batch mode: ALTER on SQLite; the indexes it cannot compare stay out of autogenerate
    migrate.init_app(app, db, render_as_batch=True, include_name=include_in_autogenerate)
    # Before CSRFProtect's check, which is the first to read the body.
    app.before_request(apply_body_limits)
    csrf.init_app(app)
    htmx.init_app(app)
    compress.init_app(app)
    static_digest.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the login page says enough

    @login_manager.user_loader
    def load_user(session_id: str):
        return User.from_session_id(session_id)

    if app.config["PROXY_FIX"]:
        # Behind N reverse proxies: the client's address, scheme and host from
        # their X-Forwarded-* headers (login limits per address need the real one).
        n = app.config["PROXY_FIX"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    register_blueprints(app)
    serve_static_files(app)
    app.before_request(refuse_nul_bytes)
    app.after_request(security_headers)
    app.context_processor(template_globals)
    app.jinja_env.add_extension("jinja2.ext.do")
    formats.register(app)
    # Vocabularies and limits come to templates from their one place.
    app.jinja_env.globals.update(
        Role=Role,
        AnswerOutcome=AnswerOutcome,
        limits=SimpleNamespace(
            query=MAX_QUERY,
            free_text=FREE_TEXT_MAX,
            recipients=app.config["SHARE_MAX_RECIPIENTS"],
            upload_mb=app.config["SHARE_UPLOAD_MAX_MB"],
        ),
    )

    cli.register(app)
    return app


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(orgs.bp)
    app.register_blueprint(surveys.bp)
    app.register_blueprint(shares.bp)
    app.register_blueprint(respond.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(integration.bp)
    app.register_blueprint(access.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(receipts.bp)
    errors.register(app)


class BoundedInt(IntegerConverter):
    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_INT)
        super().__init__(url_map, *args, **kwargs)


def refuse_nul_bytes():
    """No text a person types holds NUL, and PostgreSQL cannot store it: such
    a request is refused whole, before any view sees it."""
    if "\x00" in request.path or any("\x00" in value for _, values in request.values.lists() for value in values):
        abort(400)


def select_locale() -> str:
    if g.get("respondent_language"):  # the public answer page speaks the respondent's language
        return g.respondent_language
    if not has_request_context():  # a job or the CLI: the default, unless it forces a locale
        return "da"
    if current_user.is_authenticated and current_user.language:
        return current_user.language
    # A first visit speaks the browser's language, if it is one of ours.
    return session.get("language") or request.accept_languages.best_match(LANGUAGES, default="da")


def template_globals() -> dict:
    org = g.get("org")
    return {
        "current_locale": str(get_locale()),
        "org": org,
        "membership": g.get("membership"),
        # Counted only where a template asks (the settings' Status card).
        "members_with_access": (lambda: access_count(org.id)) if org is not None else (lambda: 0),
    }


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


DIGESTED = re.compile(r"-[0-9a-f]{32}(\.|$)")


class FingerprintedFiles(WhiteNoise):
    """WhiteNoise for the fingerprinted files only. A plain name (a file
    edited since the last compile, or never compiled) goes on to Flask's
    own static view, fresh from disk, never a stale .br beside it."""

    def add_file_to_dictionary(self, url, path, stat_cache=None):
        if DIGESTED.search(url):
            super().add_file_to_dictionary(url, path, stat_cache=stat_cache)


def serve_static_files(app):
    """Static files through WhiteNoise, ahead of Flask: a fingerprinted file
    (`flask digest compile` names it app-<md5>.css and writes .br and .gz
    beside it) is sent compressed as the browser accepts and cached for
    good; any other file is checked again each time (Flask's static view)."""
    drop_stale_fingerprints(app)
    app.wsgi_app = FingerprintedFiles(
        app.wsgi_app,
        root=app.static_folder,
        prefix=app.static_url_path,
        allow_all_origins=False,
        immutable_file_test=lambda path, url: bool(DIGESTED.search(url)),
        add_headers_function=lambda headers, path, url: headers.__setitem__("X-Content-Type-Options", "nosniff"),
    )


def drop_stale_fingerprints(app):
    """A file edited since `flask digest compile` no longer matches its
    fingerprint: it is served under its plain name (checked each time)
    rather than the old copy, and the log says to compile again."""
    manifest = static_digest.manifests.get("static", {})
    for name, digested in list(manifest.items()):
        source = Path(app.static_folder) / name
        match = DIGESTED.search(digested)
        if not source.is_file() or not match or hashlib.md5(source.read_bytes()).hexdigest() not in digested:
            del manifest[name]
            app.logger.warning("static/%s changed since `flask digest compile`; served unfingerprinted", name)


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    # Pages can hold CPR numbers (a form sent back with its errors, recipient
    # lists) and personal data: no browser or proxy keeps a copy.
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    # Pages differ for HTMX and full requests; keep caches from mixing them.
    response.vary.add("HX-Request")
    return response
