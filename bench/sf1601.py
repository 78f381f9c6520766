"""SF1601 against the provider API: one client sending N letters to the same
sandbox, each way, in one run.

    .venv/bin/python bench/sf1601.py [N]

Prints messages per second and median/p90/worst send latency for:
- the provider API (HTTP, API key): the baseline;
- SF1601 (mutual TLS, Holder-of-key token, kombi_request), tokens cached;
- SF1601 with a paper letter (Automatisk Valg with fjernprint's PDF);
and the cost of the token flow: the two-step SAML + access token exchange
that a round pays once (and again if a token is refused mid-round), against
a round of N letters. Also the PDF of one printed letter.

The sandbox's server (werkzeug) closes every connection, so each SF1601 call
here pays a whole mutual-TLS handshake; the lookup row, with no MeMo to
build or check, shows how much of a send that is.
"""

import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-bench-"))

from bench.common import report, serve, timed
from digitalpost import Action, DigitalPostClient, Message
from digitalpost.certificates import load_pkcs12
from digitalpost.sf1601 import ENTITY_SEND, Endpoints, SF1601Client
from digitalpost.transport import PaperLetter
from sandbox.app import create_app
from sandbox.ca import TestAuthority
from sandbox.sf1601 import serve_tls

KEY, CVR, PASSPHRASE = "bench-key", "13585628", "bench"
EXEMPT = "0202801234"


class DictCache:
    """The token cache as a dict: the transport alone is measured here
    (the worker's cache is Redis, jobs/gateway.RedisTokenCache)."""

    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, ttl):
        self.data[key] = value

    def delete(self, key):
        self.data.pop(key, None)


def letter(i: int, cpr: str = "0101901234") -> Message:
    return Message(
        message_uuid=str(uuid.uuid4()),
        subject=f"Invitation {i}",
        sender_cvr=CVR,
        sender_name="Bench",
        recipient_cpr=cpr,
        body="Hej! Svar venligst på spørgeskemaet. " * 10,
        actions=(Action("Besvar", f"https://postbud.example/r/{i}"),),
    )


def printed_pdf() -> tuple[bytes, float]:
    """One printed letter's PDF, as the worker makes it, and its median time."""
    from app import create_app as create_postbud
    from models.paper import render_pdf
    from models.sharing.letters import Letter

    postbud = create_postbud(SQLALCHEMY_DATABASE_URI="sqlite://", REDIS_URL="redis://127.0.0.1:1/0")
    text = Letter("Bench Kommune", "Hvad synes du om biblioteket?", "Kære Anna,\n\nSvar gerne. " * 20, "da")
    moment = datetime(2026, 12, 2, tzinfo=timezone.utc)
    with postbud.test_request_context():
        pdf = render_pdf(text, "https://postbud.example/k/ABCD2345", moment)
        durations = timed(lambda: render_pdf(text, "https://postbud.example/k/ABCD2345", moment), 50)
    return pdf, statistics.median(durations)


def main(n: int):
    instance = Path(os.environ["POSTBUD_INSTANCE_DIR"])
    app = create_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{instance / 'sandbox-bench.sqlite'}",
        SANDBOX_API_KEYS=f"{KEY}:{CVR}",
        SANDBOX_EXEMPT_CPRS={EXEMPT},
    )
    authority = TestAuthority.create()
    http_url, stop_http = serve(app)
    tls_url, stop_tls = serve_tls(app, authority, folder=instance)
    cafile = str(instance / "ca.pem")
    certificate = load_pkcs12(authority.system_certificate(CVR, "Bench Kommune", PASSPHRASE), PASSPHRASE)
    provider = DigitalPostClient(http_url, KEY)
    cache = DictCache()
    sf1601 = SF1601Client(Endpoints(tls_url, tls_url), CVR, certificate, cache, cafile=cafile)
    pdf, pdf_ms = printed_pdf()
    logging.disable(logging.INFO)  # the app's log setup: no line per request here
    counter = iter(range(10**9))

    def provider_send():
        provider.send(letter(next(counter)))

    def sf1601_send():
        sf1601.send(letter(next(counter)))

    def sf1601_paper():
        sf1601.send(letter(next(counter), EXEMPT), paper=PaperLetter(pdf, "Invitation", 4711))

    def sf1601_lookup():
        sf1601.registration("0101901234")

    def token_flow():
        cache.data.clear()
        sf1601.access_token(ENTITY_SEND, fresh=True)

    timed(provider_send, 20)  # warm up both
    timed(sf1601_send, 20)
    print(f"SF1601 benchmark: {n} letters each way, one client, one sandbox on SQLite")
    rows = {}
    for name, fn in (
        ("provider API: POST /v1/messages (baseline)", provider_send),
        ("SF1601: PostForespoerg lookup (no MeMo)", sf1601_lookup),
        ("SF1601: kombi, Digital Post, token cached", sf1601_send),
        ("SF1601: kombi, paper (Automatisk Valg + PDF)", sf1601_paper),
    ):
        start = time.perf_counter()
        durations = timed(fn, n)
        rows[name] = (durations, n / (time.perf_counter() - start))
    baseline = statistics.median(rows["provider API: POST /v1/messages (baseline)"][0])
    for name, (durations, rate) in rows.items():
        report(name, durations, baseline)
        print(f"{'':<46} {rate:8.1f} messages/s   worst {max(durations):8.2f} ms")
    flow = timed(token_flow, 50)
    flow_ms = report("token flow: SAML token + access token", flow, baseline)
    round_ms = statistics.median(rows["SF1601: kombi, Digital Post, token cached"][0]) * 5000
    print(f"{'token flow per 5,000-letter round':<46} {flow_ms / round_ms * 100:8.3f} % of the round's send time")
    print(f"{'one printed letter PDF (fpdf2 + segno)':<46} median {pdf_ms:8.2f} ms   {len(pdf):,} bytes")
    provider.close()
    sf1601.close()
    stop_tls()
    stop_http()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
