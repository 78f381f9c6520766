"""Login: a wrong password for a real account against an unknown e-mail (the
two must cost the same, so timing does not tell which accounts exist), a
right password, and what the attempt counter in Redis adds.

    .venv/bin/python bench/login.py

SQLite in a temporary instance/; Redis is REDIS_URL or the embedded server.
Through the Flask test client; the baseline is GET /healthz in the same run.
The limits are set high, so that every request checks its password.
"""

import logging
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-bench-"))

from flask_migrate import upgrade

from app import create_app
from bench.common import report, timed

REPEAT = 20


def main():
    instance = Path(os.environ["POSTBUD_INSTANCE_DIR"])
    app = create_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{instance / 'bench.sqlite'}",
        SESSION_COOKIE_SECURE=False,
        WTF_CSRF_ENABLED=False,
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        LOGIN_MAX_FAILURES=10**6,
    )
    logging.getLogger().setLevel(logging.WARNING)  # no line per request
    from extensions import db, embedded_dir, stop_embedded_redis
    from models import User
    from views.ratelimit import AttemptLimit

    try:
        with app.app_context():
            upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
            user = User(email="real@bench.dk", name="Real")
            user.set_password("the right passphrase")
            db.session.add(user)
            db.session.commit()
            client = app.test_client()

            def post(email, password):
                def request():
                    response = client.post("/login", data={"email": email, "password": password})
                    assert response.status_code in (302, 401), response.status_code
                    client.post("/logout") if response.status_code == 302 else None

                return request

            baseline = report("GET /healthz (baseline)", timed(lambda: client.get("/healthz"), REPEAT))
            wrong = report("wrong password, real account", timed(post("real@bench.dk", "wrong"), REPEAT), baseline)
            unknown = report("unknown e-mail", timed(post("nobody@bench.dk", "wrong"), REPEAT), baseline)
            report("right password", timed(post("real@bench.dk", "the right passphrase"), REPEAT), baseline)
            limit = AttemptLimit("bench", 10**9, 60)
            report("one attempt counted in Redis", timed(lambda: limit.take("x"), REPEAT * 10), baseline)
            print(f"unknown e-mail / wrong password: {unknown / wrong:.2f} (1.00 means no timing difference)")
            db.session.remove()
            db.engine.dispose()
    finally:
        if not os.environ.get("REDIS_URL"):
            stop_embedded_redis(embedded_dir(app))


if __name__ == "__main__":
    main()
