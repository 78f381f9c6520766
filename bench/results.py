"""A survey's results page and its export, at real sizes.

    .venv/bin/python bench/results.py [N]        # SQLite (a temporary file)
    .venv/bin/python bench/results.py [N] postgresql://postgres@127.0.0.1:5432/postgres

N answer sheets (default 10,000, then ten times as many), each of three
choice questions and a free text, a third of them through a personal link
(by name), are written; then, against a baseline measured in the same run
(counting the answers of the survey), the median of five:
- the results page (charts, per day, rates, answers by name, page 1);
- the CSV export and the .xlsx export of every sheet.
"""

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-bench-"))

import sqlalchemy as sa

from bench.common import migrated_app, report, timed
from bench.sharing import csv_bytes, new_share, setup


def fill(db, survey, share, n: int, start: int) -> None:
    """n answer sheets, written as the answer page writes them, in bulk."""
    from models import Recipient
    from models.base import utcnow
    from models.survey import Answer, Response

    questions = list(survey.questions)
    people = db.session.scalars(sa.select(Recipient.id).where(Recipient.share_id == share.id)).all()
    now = utcnow()
    for offset in range(0, n, 5_000):
        responses = []
        for i in range(start + offset, start + min(offset + 5_000, n)):
            answers = [
                Answer(question_id=q.id, option_index=(i * (k + 1)) % len(q.options))
                for k, q in enumerate(questions[:3])
            ]
            answers.append(Answer(question_id=questions[3].id, text=f"Svar nummer {i}: mere kaffe og kortere møder"))
            linked = people[i % len(people)] if i % 3 == 0 and i // 3 < len(people) else None
            responses.append(
                Response(
                    survey_id=survey.id, recipient_id=linked, created_at=now - timedelta(minutes=i), answers=answers
                )
            )
        db.session.add_all(responses)
        db.session.commit()


def main(n: int, url: str | None) -> None:
    from extensions import db
    from models.survey import Answer, QuestionKind, Response, add_question

    with migrated_app(url) as app:
        org, user, membership, survey = setup(app, db)
        survey.anonymous = False
        for text in ("Hvor tilfreds er du?", "Hvor ofte?"):
            add_question(survey, QuestionKind.SINGLE_CHOICE, text, ["Meget", "Noget", "Lidt", "Ikke"])
        add_question(survey, QuestionKind.FREE_TEXT, "Hvad kan blive bedre?", [])
        db.session.commit()
        share = new_share(db, survey, membership, csv_bytes(n // 3 + 1))
        client = app.test_client()
        client.post("/login", data={"email": "bench-member@example.dk", "password": "bench-password"})
        base = f"/orgs/{org.id}/surveys/{survey.id}/responses"
        written = 0
        for size in (n, 10 * n):
            fill(db, survey, share, size - written, written)
            written = size

            def count():
                return db.session.scalar(
                    sa.select(sa.func.count()).select_from(Answer).join(Response).where(Response.survey_id == survey.id)
                )

            baseline = report(f"baseline: count the answers ({size:,} sheets)", timed(count, 5))
            for name, path in [("results page", ""), ("CSV export", ".csv"), (".xlsx export", ".xlsx")]:

                def get(path=path):
                    response = client.get(base + path)
                    assert response.status_code == 200, response.status_code

                report(f"{name} ({size:,} sheets)", timed(get, 5), baseline)

        print(f"on {db.engine.dialect.name}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, sys.argv[2] if len(sys.argv) > 2 else None)
