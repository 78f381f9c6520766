"""The push endpoint of the message broker's receipts (PKO_PostStatus).

The broker posts each event as JSON, signed with the shared secret
(RECEIPT_PUSH_SECRET) in `X-Postbud-Signature: sha256=<HMAC of the body>`.
Answers: 200 when the event was taken (applied, or a repeat); 404 for a
messageUUID Postbud did not send through SF1601, so nothing unknown is
trusted or kept; 503 for a letter whose sending is not yet recorded; 401
for a wrong signature; 400 for what is not an event.
The broker delivers again whatever did not get a 2xx.
"""

import hashlib
import hmac
import json
import logging

from flask import Blueprint, current_app, jsonify, request

from extensions import csrf, db
from models.receipts import PostStatus, ReceiptOutcome, record_receipt

bp = Blueprint("receipts", __name__, url_prefix="/digitalpost")
log = logging.getLogger(__name__)
MAX_EVENT_BYTES = 64 * 1024


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@bp.post("/receipts")
@csrf.exempt  # a machine's call, authenticated by its signature
def receive():
    if (request.content_length or 0) > MAX_EVENT_BYTES:
        return jsonify(error="too_large"), 413
    body = request.get_data()
    secret = current_app.config["RECEIPT_PUSH_SECRET"]
    given = request.headers.get("X-Postbud-Signature", "")
    if not secret or not hmac.compare_digest(given, signature(secret, body)):
        return jsonify(error="unauthorized"), 401
    try:
        status = PostStatus.parse(json.loads(body))
    except ValueError as exc:  # json's errors are ValueErrors too
        return jsonify(error="invalid_event", detail=str(exc)), 400
    outcome = record_receipt(status)
    db.session.commit()
    log.info("receipt %s for message %s: %s", status.receipt, status.message_uuid, outcome)
    if outcome == ReceiptOutcome.UNKNOWN:
        return jsonify(error="unknown_message"), 404
    if outcome == ReceiptOutcome.NOT_YET:
        return jsonify(error="not_yet_recorded"), 503, {"Retry-After": "1"}
    return jsonify(outcome=str(outcome)), 200
