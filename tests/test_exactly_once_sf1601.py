"""Exactly once through Serviceplatformen, with real `flask worker`
processes and the sandbox's mutual-TLS port: a 5,000-recipient round whose
access tokens all expire in the middle and whose workers are killed in the
middle. Every recipient gets one letter, digital or paper."""

import io
import time

from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from conftest import EXEMPT_CPR
from extensions import get_queue
from jobs.sending import enqueue_rounds
from models import Delivery, Survey, db
from models.access import grant_access, selection_of
from models.base import utcnow
from models.sharing import ExemptChoice, RoundKind
from models.sharing.lifecycle import confirm_share, start_share
from models.sharing.recipients import accept_import, import_file
from models.sharing.schedule import PlannedRound
from models.survey import QuestionKind, SurveyState, add_question
from tests.test_exactly_once import cprs, round_state, wait_for, workers  # noqa: F401  (a fixture)

KOMBI = "/service/KombiPostAfsend_1/kombi"
TOKEN = "/service/AccessTokenService_1/token"


def test_a_round_through_sf1601_survives_expired_tokens_and_killed_workers(
    app, org, admin, member, sf1601_integration, sf1601, sf1601_url, ca_path, workers
):
    n = 2000
    everyone = list(cprs(n))
    exempt = set(everyone[::50])  # 40 citizens who are exempt: they get paper
    sf1601.configure(SANDBOX_EXEMPT_CPRS=exempt)
    try:
        membership = member.membership_in(org.id)
        grant_access(org.id, admin.id, selection_of(membership.id))
        survey = Survey(org_id=org.id, owner_id=member.id, title="Trivsel", state=SurveyState.OPEN)
        db.session.add(survey)
        add_question(survey, QuestionKind.SINGLE_CHOICE, "Hvordan går det?", ["Godt", "Skidt"])
        share = start_share(survey, membership)
        share.subject, share.body = "Invitation", "Kære [FORNAVN], svar gerne."
        share.exempt_choice = ExemptChoice.PAPER
        db.session.flush()
        csv = "fornavn;cpr\n" + "".join(f"Navn{i};{cpr}\n" for i, cpr in enumerate(everyone))
        accept_import(share, import_file(share, io.BytesIO(csv.encode()), "liste.csv"))
        db.session.commit()
        _, rounds = confirm_share(share, [PlannedRound(RoundKind.INVITATION, utcnow())], may_share=True)
        db.session.commit()
        enqueue_rounds(rounds)
        rnd = rounds[0]
        settings = dict(ROUND_WORKERS=2, DELIVERY_CLAIM_LEASE=3, SF1601_SANDBOX_URL=sf1601_url, SF1601_CAFILE=ca_path)

        first = workers(**settings)
        first.start(2)
        calls = sf1601.app.extensions["sf1601_calls"]

        def sent():
            return sum(sf1601.message_counts().values()) + sum(sf1601.printed_counts().values())

        wait_for(lambda: sent() >= 400, 180, "a fifth sent", first.logs)
        # Every token handed out so far stops working, mid-round: the workers
        # take a fresh one (the call log shows it) and go on.
        calls.clear()
        sf1601.configure(SANDBOX_TOKEN_EPOCH=1)
        at_expiry = sent()
        wait_for(lambda: any(path == TOKEN for path, *_ in calls), 60, "a fresh token", first.logs)
        wait_for(lambda: sent() >= max(800, at_expiry + 200), 180, "more sent on the fresh tokens", first.logs)
        first.kill()
        sent_before = sent()
        assert sent_before < n, "the round finished before the kill"
        StartedJobRegistry(queue=get_queue(app)).cleanup(timestamp=time.time() + 3600)
        second = workers(**settings)
        second.start(2)
        wait_for(lambda: round_state(rnd.id).state == "done", 300, "the round", second.logs)

        digital, printed = sf1601.message_counts(), sf1601.printed_counts()
        assert set(printed) == exempt and set(digital) == set(everyone) - exempt
        twice = {c: k for c, k in {**digital, **printed}.items() if k != 1}
        assert not twice, f"{len(twice)} recipients got more than one letter"
        counts = dict(
            db.session.execute(
                select(Delivery.channel, func.count()).where(Delivery.round_id == rnd.id).group_by(Delivery.channel)
            ).all()
        )
        assert counts == {"digital": n - len(exempt), "paper": len(exempt)}
        print(f"\nSF1601 crash run: tokens expired at {at_expiry}/{n} sent, workers killed at {sent_before}")
    finally:
        sf1601.configure(SANDBOX_EXEMPT_CPRS={EXEMPT_CPR})
