"""The gateway API of docs/digital-post-gateway.md, version 1."""

import hashlib
import hmac
import random
import threading
import time
from collections import deque

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from digitalpost.identifiers import InvalidCPR, normalize_cpr
from sandbox.memo_rules import MemoRefused, check
from sandbox.models import DeliveredMessage, db

bp = Blueprint("gateway", __name__, url_prefix="/v1")


def error(status: int, code: str, **extra):
    response = jsonify({"error": code, **extra})
    response.status_code = status
    return response


def bearer_key() -> str:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""


def key_id(api_key: str) -> str:
    """What the sandbox stores to know which key sent a message: not the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def authorized_cvrs() -> set[str] | None:
    """The CVRs bound to the request's bearer key, or None for a bad key."""
    given = bearer_key()
    if not given:
        return None
    for key, cvrs in current_app.config["SANDBOX_KEYS"].items():
        if hmac.compare_digest(key.encode(), given.encode()):
            return cvrs
    return None


class SendRateLimiter:
    """Sends per second per key, over a sliding one-second window."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sent: dict[str, deque] = {}

    def retry_after(self, key: str, limit: int) -> float:
        if limit <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            window = self._sent.setdefault(key, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                return max(1.0 - (now - window[0]), 0.01)
            window.append(now)
            return 0.0


@bp.after_request
def inject_latency(response):
    # After the work, before the answer: a slow gateway has often accepted the
    # message already when the client gives up waiting.
    latency = current_app.config["SANDBOX_LATENCY_MS"]
    if latency:
        time.sleep(latency / 1000)
    return response


@bp.post("/messages")
def send_message():
    cfg = current_app.config
    cvrs = authorized_cvrs()
    if cvrs is None:
        return error(401, "invalid_api_key")
    bearer = key_id(bearer_key())
    wait = current_app.extensions["sandbox_rate_limiter"].retry_after(bearer, cfg["SANDBOX_RATE_LIMIT"])
    if wait:
        response = error(429, "rate_limited")
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    if cfg["SANDBOX_FAIL_RATE"] and random.random() < cfg["SANDBOX_FAIL_RATE"]:
        return error(503, "unavailable")
    try:
        letter = check(request.get_data(), allow_loopback_http=cfg["SANDBOX_ALLOW_LOOPBACK_HTTP"])
    except MemoRefused as exc:
        return error(400, "invalid_memo", detail=exc.detail)
    if letter.sender_cvr not in cvrs:
        return error(403, "sender_not_authorized")

    existing = db.session.get(DeliveredMessage, letter.message_uuid)
    if existing is not None:
        if existing.api_key_id == bearer and existing.content_hash == letter.content_hash():
            return jsonify({"messageUUID": existing.message_uuid, "status": "accepted"}), 200
        return error(409, "duplicate_message_uuid")

    # recipient_cpr is normalized (ten digits), however the sender wrote it.
    if letter.recipient_cpr in cfg["SANDBOX_EXEMPT_CPRS"]:
        return error(422, "recipient_exempt")
    if letter.recipient_cpr in cfg["SANDBOX_UNKNOWN_CPRS"]:
        return error(422, "recipient_not_found")

    stored = DeliveredMessage.of_letter(letter, bearer, cfg["SANDBOX_DELIVERY_DELAY_MS"])
    db.session.add(stored)
    try:
        db.session.commit()
    except IntegrityError:  # the same messageUUID arrived twice at once
        db.session.rollback()
        return send_message()
    return jsonify({"messageUUID": letter.message_uuid, "status": "accepted"}), 202


@bp.post("/registrations")
def registration():
    """Sandbox addition to the provider API: does a CPR get Digital Post?
    The CPR comes in the body ({"cpr": "…"}), never in the URL."""
    if authorized_cvrs() is None:
        return error(401, "invalid_api_key")
    cfg = current_app.config
    data = request.get_json(silent=True) or {}
    try:
        cpr = normalize_cpr(str(data.get("cpr", "")))
    except InvalidCPR:
        return error(400, "invalid_request")
    if cpr in cfg["SANDBOX_UNKNOWN_CPRS"]:
        return error(404, "recipient_not_found")
    return jsonify({"registration": "exempt" if cpr in cfg["SANDBOX_EXEMPT_CPRS"] else "digital"})


@bp.get("/messages/<message_uuid>")
def message_status(message_uuid):
    if authorized_cvrs() is None:
        return error(401, "invalid_api_key")
    message = db.session.get(DeliveredMessage, message_uuid)
    if message is None or message.api_key_id != key_id(bearer_key()):
        return error(404, "not_found")
    return jsonify(message.status_json())
