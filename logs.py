"""Logging: one line per event, each with its request id (or rq job id), and
nothing shaped like a CPR number, whichever logger it comes through.

The masking sits in the log record factory, which every logger uses to make
its records (Postbud's, Werkzeug's, rq's, SQLAlchemy's), so no handler or
formatter elsewhere can see a CPR number in a message or a traceback.
"""

import logging
import re
import time
import uuid

from flask import Flask, g, has_request_context, request
from rq import get_current_job

FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
# Ten digits whose first six could be a birth date (DDMMYY), with or without
# the dash; any script's digits count as digits.
CPR_SHAPED = re.compile(r"(?<!\d)(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2}[-\s]?\d{4}(?!\d)")
MASK = "[CPR]"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

log = logging.getLogger("postbud.request")


def mask_cprs(text: str) -> str:
    return CPR_SHAPED.sub(MASK, text)


def current_id() -> str:
    if has_request_context():
        return g.get("request_id", "-")
    job = get_current_job()  # inside a job's work horse
    return job.id if job else "-"


def install_record_factory() -> None:
    base = logging.getLogRecordFactory()
    if getattr(base, "masks_cprs", False):
        return

    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the caller
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask_cprs(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_cprs(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_cprs(record.stack_info)
        record.request_id = current_id()
        return record

    factory.masks_cprs = True
    logging.setLogRecordFactory(factory)


class OneLineFormatter(logging.Formatter):
    """A traceback stays in its event's line, so every line is one event."""

    def format(self, record):
        return super().format(record).replace("\n", "\\n")


def configure(level=logging.INFO) -> None:
    install_record_factory()
    root = logging.getLogger()
    if not any(getattr(h, "postbud", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(OneLineFormatter(FORMAT))
        handler.postbud = True
        root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    """A request id for every request (the proxy's X-Request-ID when it sends
    a sane one), in every log line and the response; one line per request."""
    configure()

    @app.before_request
    def start_request():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        if request.endpoint != "static":
            ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
            log.info("%s %s %s %.0f ms", request.method, logged_path(), response.status_code, ms)
        return response


def logged_path() -> str:
    """The path, but the answer pages' by their rule (/r/<token>): a token is
    a recipient's key, and a line with it and the time would tie an
    anonymous answer to the recipient who gave it."""
    if request.blueprint == "respond" and request.url_rule is not None:
        return request.url_rule.rule
    return request.path
