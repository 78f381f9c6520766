"""Sharing through Digital Post: sending, cancelling, importing, the status table.

    .venv/bin/python bench/sharing.py [SEND_N]          # SQLite (a temporary file)
    .venv/bin/python bench/sharing.py [SEND_N] postgresql://postgres@127.0.0.1:5432/postgres

Each figure has a baseline measured in the same run:
- sending SEND_N (default 10,000) recipients by one rq worker (SimpleWorker, as
  `flask worker` runs the job) to the sandbox, against the raw client's loop of
  as many messages to the same sandbox: messages per second and the ratio
  (goal: 70% or more);
- cancelling a share of 100,000 scheduled recipients (goal: under 1 s);
- importing and validating a 100,000-row CSV (goal: under 5 s), with the
  peak of Python's memory for 20,000 and for 100,000 rows (it must not grow
  with the file);
- the recipient status fragment at 100,000 recipients, against GET /healthz;
- letters: the message step's merged-length check over 100,000 recipients
  against a count of the same list; composing one letter and building its
  MeMo against building a ready message; the sandbox's schema and NgDP check
  of one message against parsing it alone.
"""

import io
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-bench-"))

import sqlalchemy as sa

from bench.common import migrated_app, report, serve, timed

KEY, CVR = "bench-key-1234", "13585628"
BIG = 100_000


def cprs(n: int, start: int = 0):
    """n distinct valid CPR numbers (real dates, any serial)."""
    for i in range(start, start + n):
        day, rest = i % 28 + 1, i // 28
        month, serial = rest % 12 + 1, rest // 12
        yield f"{day:02d}{month:02d}{50 + serial // 10000:02d}{serial % 10000:04d}"


def csv_bytes(n: int, start: int = 0) -> bytes:
    out = io.StringIO()
    out.write("fornavn;efternavn;cpr;sprog;kommune\n")
    for i, cpr in enumerate(cprs(n, start)):
        out.write(f"Navn{i};Efternavn{i};{cpr};{'da' if i % 3 else 'en'};Kommune {i % 98}\n")
    return out.getvalue().encode("utf-8")


def raw_letter(i: int, cpr: str):
    """The letter a round of new_share sends to recipient i, as a raw client builds it."""
    from digitalpost import Action, Message

    return Message(
        message_uuid=str(uuid.uuid4()),
        subject="Invitation",
        sender_cvr=CVR,
        sender_name="Benchmark Kommune",
        recipient_cpr=cpr,
        body=f"Kære Navn{i}, svar gerne. " * 5,
        actions=(Action("Besvar", f"https://postbud.example/r/{i}"),),
    )


def setup(app, db):
    from crypto import encrypt
    from models import DigitalPostIntegration, Membership, Organization, Role, Survey, User
    from models.access import grant_access, selection_of
    from models.base import utcnow
    from models.integration import State
    from models.survey import QuestionKind, SurveyState, add_question

    org = Organization(name="Benchmark Kommune")
    user = User(email="bench-member@example.dk", name="Bench Member")
    user.set_password("bench-password")
    db.session.add_all([org, user])
    db.session.flush()
    membership = Membership.create(org, user, role=Role.MEMBER)
    integration = DigitalPostIntegration.for_org(org.id)
    integration.state, integration.sender_cvr = State.ACTIVE, CVR
    integration.api_key_encrypted, integration.api_key_last4 = encrypt(KEY), KEY[-4:]
    integration.activated_at = utcnow()
    survey = Survey(org_id=org.id, owner_id=user.id, title="Bench", state=SurveyState.OPEN)
    db.session.add(survey)
    add_question(survey, QuestionKind.SINGLE_CHOICE, "Q", ["a", "b"])
    db.session.flush()
    grant_access(org.id, user.id, selection_of(membership.id))
    db.session.commit()
    return org, user, membership, survey


def new_share(db, survey, membership, csv: bytes):
    from models.sharing.lifecycle import start_share
    from models.sharing.recipients import accept_import, import_file

    share = start_share(survey, membership)
    share.subject, share.body = "Invitation", "Kære [FORNAVN], svar gerne. " * 5
    db.session.flush()
    imp = import_file(share, io.BytesIO(csv), "bench.csv")
    accept_import(share, imp)
    db.session.commit()
    return share


def main(send_n: int, url: str | None):
    from sandbox.app import create_app as create_sandbox

    instance = Path(os.environ["POSTBUD_INSTANCE_DIR"])
    sandbox = create_sandbox(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{instance / 'sandbox.sqlite'}", SANDBOX_API_KEYS=f"{KEY}:{CVR}"
    )
    sandbox_url, stop_sandbox = serve(sandbox)
    from extensions import db

    try:
        with migrated_app(url, DIGITAL_POST_API_URL=sandbox_url, INSTALLATION=f"bench-{uuid.uuid4().hex[:6]}") as app:
            print(f"sharing benchmark on {db.engine.dialect.name}")
            org, user, membership, survey = setup(app, db)
            bench_send(app, db, survey, membership, sandbox_url, send_n)
            bench_import(db, survey, membership)
            share = bench_status(app, db, org, survey, membership)
            bench_letters(db, share)
            bench_cancel(db, share)
    finally:
        stop_sandbox()


def bench_send(app, db, survey, membership, sandbox_url, n):
    from rq import SimpleWorker

    from digitalpost import DigitalPostClient
    from jobs.sending import enqueue_rounds
    from jobs.worker import run_worker
    from models.sharing import RoundKind
    from models.sharing.lifecycle import confirm_share
    from models.sharing.schedule import PlannedRound

    base_cprs = list(cprs(n, start=500_000))
    with DigitalPostClient(sandbox_url, KEY) as client:
        start = time.perf_counter()
        for i, cpr in enumerate(base_cprs):
            client.send(raw_letter(i, cpr))
        raw = n / (time.perf_counter() - start)
    share = new_share(db, survey, membership, csv_bytes(n))
    _, rounds = confirm_share(share, [PlannedRound(RoundKind.INVITATION, share.created_at)], may_share=True)
    db.session.commit()
    enqueue_rounds(rounds)
    start = time.perf_counter()
    run_worker(app, burst=True, worker_class=SimpleWorker)
    worker = n / (time.perf_counter() - start)
    from models import Delivery

    sent = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.state == "sent"))
    print(f"{'baseline: raw client loop to the sandbox':<46} {raw:8.1f} messages/s")
    print(
        f"{f'one rq worker, {n:,} recipients ({sent:,} sent)':<46} {worker:8.1f} messages/s"
        f"   {worker / raw:5.0%} of baseline (goal 70%)"
    )


def bench_import(db, survey, membership):
    from models.sharing.lifecycle import start_share
    from models.sharing.recipients import import_file

    for n in (20_000, BIG):
        data = csv_bytes(n)
        share = start_share(survey, membership)
        db.session.flush()
        tracemalloc.start()
        import_file(share, io.BytesIO(data), "bench.csv")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        db.session.rollback()
        share = start_share(survey, membership)
        db.session.flush()
        start = time.perf_counter()
        import_file(share, io.BytesIO(data), "bench.csv")
        db.session.commit()
        elapsed = time.perf_counter() - start
        print(
            f"{f'import + validate {n:,}-row CSV ({len(data) / 2**20:.1f} MB)':<46} {elapsed * 1000:8.0f} ms"
            f"   peak Python memory {peak / 2**20:6.1f} MB"
        )


def bench_status(app, db, org, survey, membership):
    share = new_share(db, survey, membership, csv_bytes(BIG, start=200_000))
    from datetime import timedelta

    from models.base import utcnow
    from models.sharing import RoundKind
    from models.sharing.lifecycle import confirm_share
    from models.sharing.schedule import PlannedRound

    confirm_share(share, [PlannedRound(RoundKind.INVITATION, utcnow() + timedelta(days=1))], may_share=True)
    db.session.commit()
    client = app.test_client()
    client.post("/login", data={"email": "bench-member@example.dk", "password": "bench-password"})
    headers = {"HX-Request": "true"}
    base = f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{share.id}"
    baseline = report("baseline: GET /healthz", timed(lambda: client.get("/healthz"), 30))
    for name, path in [
        ("recipient table, page 1", "/recipients-table"),
        ("recipient table, search q=navn12", "/recipients-table?q=navn12"),
        ("recipient table, state=pending, page 1000", "/recipients-table?state=pending&page=1000"),
        ("recipient table, no match", "/recipients-table?q=zzzz"),
        ("counts fragment", "/counts"),
    ]:

        def get(path=path):
            response = client.get(base + path, headers=headers)
            assert response.status_code in (200, 286), response.status_code

        report(f"{name} ({BIG:,})", timed(get, 30), baseline)
    return share


def bench_letters(db, share):
    from datetime import datetime, timezone

    from lxml import etree

    from digitalpost import build_memo
    from models import Recipient
    from models.sharing import RoundKind, message_uuid
    from models.sharing.letters import compose, first_oversized, resolve_texts, written_texts
    from models.sharing.recipients import recipient_count
    from sandbox.memo_rules import check

    share.subject, share.body = "Trivsel i [KOMMUNE]", "Kære [FORNAVN] [EFTERNAVN] i [KOMMUNE], svar gerne. " * 5
    baseline = report(f"baseline: count the list ({BIG:,})", timed(lambda: recipient_count(share.id), 5))
    report(
        f"merged-length check of {BIG:,} letters (invitation and reminder)",
        timed(lambda: first_oversized(share, resolve_texts(written_texts(share))), 5),
        baseline,
    )
    recipient = db.session.scalar(sa.select(Recipient).where(Recipient.share_id == share.id).limit(1))
    when = datetime.now(timezone.utc)

    def letter():
        return compose(share, RoundKind.REMINDER, recipient).message(
            message_uuid=message_uuid(1, recipient.id), sender_cvr=CVR, recipient_cpr="0101901234", created_at=when
        )

    ready = letter()
    built = build_memo(ready)
    baseline = report("baseline: build_memo of a ready message", timed(lambda: build_memo(ready), 2000))
    report("compose the letter + build_memo", timed(lambda: build_memo(letter()), 2000), baseline)
    baseline = report("baseline: parse one message (lxml)", timed(lambda: etree.fromstring(built), 2000))
    report(
        "sandbox: schema + NgDP check of one message",
        timed(lambda: check(built, allow_loopback_http=True), 2000),
        baseline,
    )
    db.session.rollback()


def bench_cancel(db, share):
    from models.sharing.lifecycle import cancel_share

    start = time.perf_counter()
    cancelled = cancel_share(share)
    db.session.commit()
    elapsed = time.perf_counter() - start
    print(
        f"{f'cancel a share of {BIG:,} scheduled recipients':<46} {elapsed * 1000:8.0f} ms"
        f"   ({cancelled} round; CPRs deleted; goal under 1,000 ms)"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args.pop(0)) if args and args[0].isdigit() else 10_000
    main(n, args[0] if args else None)
