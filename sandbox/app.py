"""The sandbox gateway app. Run: flask --app sandbox.app run --port 5001"""

import os
import secrets
import sys
from collections import deque

from cryptography.fernet import Fernet
from flask import Flask, request
from flask_babel import Babel, get_locale

from sandbox import gateway, mailbox, receipts, sf1601
from sandbox.instance import BASE_DIR, instance_dir, private_file, secret
from sandbox.models import db

DEFAULT_CVR = "13585628"


def parse_keys(spec: str) -> dict[str, set[str]]:
    """SANDBOX_API_KEYS="key1:CVR1,CVR2;key2:CVR3" -> {key: {cvr, ...}}."""
    keys = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        key, _, cvrs = part.partition(":")
        keys[key.strip()] = {c.strip() for c in cvrs.split(",") if c.strip()}
    return keys


def _fernet_key() -> str:
    return Fernet.generate_key().decode()


def _csv(value: str) -> set[str]:
    return {v.strip().replace("-", "") for v in value.split(",") if v.strip()}


def create_app(**overrides) -> Flask:
    env = os.environ
    app = Flask(__name__, static_folder=str(BASE_DIR / "static"))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=env.get("SANDBOX_DATABASE_URL", f"sqlite:///{private_file('sandbox.sqlite')}"),
        SANDBOX_API_KEYS=env.get("SANDBOX_API_KEYS", ""),
        SANDBOX_EXEMPT_CPRS=_csv(env.get("SANDBOX_EXEMPT_CPRS", "")),
        SANDBOX_UNKNOWN_CPRS=_csv(env.get("SANDBOX_UNKNOWN_CPRS", "")),
        SANDBOX_FAIL_RATE=float(env.get("SANDBOX_FAIL_RATE", "0")),
        SANDBOX_LATENCY_MS=int(env.get("SANDBOX_LATENCY_MS", "0")),
        SANDBOX_RATE_LIMIT=int(env.get("SANDBOX_RATE_LIMIT", "0")),
        SANDBOX_DELIVERY_DELAY_MS=int(env.get("SANDBOX_DELIVERY_DELAY_MS", "0")),
        # The real Digital Post takes https:// links only. A developer's
        # Postbud links to http://127.0.0.1, so the sandbox lets http:// to a
        # loopback host through (and says so in the mailbox); 0 refuses it too.
        SANDBOX_ALLOW_LOOPBACK_HTTP=env.get("SANDBOX_ALLOW_LOOPBACK_HTTP", "1") == "1",
        # Seals the CPR in mailbox URLs, so no CPR reaches an access log.
        SANDBOX_MAILBOX_KEY=env.get("SANDBOX_MAILBOX_KEY") or secret("sandbox_mailbox_key", _fernet_key),
        # Serviceplatformen (SF1601): the CVRs with a service agreement, and
        # how long its tokens live (a test shortens them, or bumps the epoch).
        SANDBOX_SF1601_AGREEMENTS=_csv(env.get("SANDBOX_SF1601_CVRS", DEFAULT_CVR)),
        SANDBOX_SAML_LIFETIME=int(env.get("SANDBOX_SAML_LIFETIME", str(8 * 3600))),
        SANDBOX_ACCESS_TOKEN_LIFETIME=int(env.get("SANDBOX_ACCESS_TOKEN_LIFETIME", "3600")),
        SANDBOX_TOKEN_EPOCH=0,
        # The SF1601 port (sandbox/tls.py), shown on the mailbox page, and
        # where its test authority is kept.
        SANDBOX_SF1601_URL=env.get("SANDBOX_SF1601_URL", ""),
        SANDBOX_CA_DIR=env.get("SANDBOX_CA_DIR") or str(instance_dir()),
        # The message broker's receipts (sandbox/receipts.py): where they are
        # pushed (empty: nowhere), the shared secret they are signed with
        # (by default Postbud's own, from the same instance/), and faults.
        SANDBOX_RECEIPT_URL=env.get("SANDBOX_RECEIPT_URL", ""),
        SANDBOX_RECEIPT_SECRET=env.get("SANDBOX_RECEIPT_SECRET")
        or secret("receipt_push_secret", lambda: secrets.token_urlsafe(32)),
        SANDBOX_RECEIPT_DELAY_MS=int(env.get("SANDBOX_RECEIPT_DELAY_MS", "200")),
        SANDBOX_RECEIPT_DUPLICATES=float(env.get("SANDBOX_RECEIPT_DUPLICATES", "0")),
        SANDBOX_RECEIPT_REORDER=env.get("SANDBOX_RECEIPT_REORDER", "0") == "1",
        SANDBOX_RECEIPT_FAIL_CPRS=_csv(env.get("SANDBOX_RECEIPT_FAIL_CPRS", "")),
        BABEL_TRANSLATION_DIRECTORIES=str(BASE_DIR / "translations"),
    )
    app.config.update(overrides)
    keys = parse_keys(app.config["SANDBOX_API_KEYS"])
    if not keys:
        dev_key = secret("sandbox_dev_key", lambda: "sandbox-" + os.urandom(12).hex())
        keys = {dev_key: {DEFAULT_CVR}}
        print(f"Digital Post sandbox: development API key {dev_key} (sender CVR {DEFAULT_CVR})", file=sys.stderr)
    app.config["SANDBOX_KEYS"] = keys
    app.config["SANDBOX_DEV_KEYS"] = keys if not app.config["SANDBOX_API_KEYS"] else {}

    db.init_app(app)
    Babel(
        app,
        locale_selector=lambda: (
            request.cookies.get("sandbox_language", "da")
            if request.cookies.get("sandbox_language") in ("da", "en")
            else "da"
        ),
    )
    app.extensions["sandbox_rate_limiter"] = gateway.SendRateLimiter()
    app.extensions["sf1601_calls"] = deque(maxlen=1000)  # (path, transaction id, time), for tests
    cfg = app.config
    app.extensions["receipt_pusher"] = receipts.ReceiptPusher(
        cfg["SANDBOX_RECEIPT_URL"],
        cfg["SANDBOX_RECEIPT_SECRET"],
        delay_ms=cfg["SANDBOX_RECEIPT_DELAY_MS"],
        duplicates=cfg["SANDBOX_RECEIPT_DUPLICATES"],
        reorder=cfg["SANDBOX_RECEIPT_REORDER"],
    )
    app.register_blueprint(gateway.bp)
    app.register_blueprint(sf1601.bp)
    app.register_blueprint(mailbox.bp)

    @app.after_request
    def headers(response):
        # The PDF of a letter may be framed by its own mailbox page.
        ancestors = "'self'" if request.endpoint == "mailbox.document" else "'none'"
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors {ancestors}"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.context_processor
    def globals_():
        return {"current_locale": str(get_locale())}

    with app.app_context():
        db.create_all()  # the sandbox is a development tool: no migrations
    return app
