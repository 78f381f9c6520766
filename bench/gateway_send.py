"""Raw gateway throughput: one DigitalPostClient sending N messages to the sandbox.

    .venv/bin/python bench/gateway_send.py [N]

Prints messages per second and the median send latency, against a baseline
measured in the same run: GET of the sandbox's status endpoint (an HTTP round
trip through the same client and server with no MeMo work and no write).
Later issues compare the worker's throughput with this figure.
"""

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-bench-"))

from bench.common import report, serve, timed
from digitalpost import Action, DigitalPostClient, Message, MessageNotFound
from sandbox.app import create_app

KEY, CVR = "bench-key", "13585628"


def main(n: int):
    instance = Path(os.environ["POSTBUD_INSTANCE_DIR"])
    app = create_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{instance / 'sandbox-bench.sqlite'}", SANDBOX_API_KEYS=f"{KEY}:{CVR}"
    )
    url, stop = serve(app)
    client = DigitalPostClient(url, KEY)

    def status_miss():
        try:
            client.status("00000000-0000-0000-0000-000000000000")
        except MessageNotFound:
            pass

    counter = iter(range(10**9))

    def send_one():
        i = next(counter)
        client.send(
            Message(
                message_uuid=str(uuid.uuid4()),
                subject=f"Invitation {i}",
                sender_cvr=CVR,
                sender_name="Bench",
                recipient_cpr="0101901234",
                body="Hej! Svar venligst på spørgeskemaet. " * 10,
                actions=(Action("Besvar", f"https://postbud.example/r/{i}"),),
            )
        )

    timed(send_one, 20)  # warm up
    print(f"gateway send benchmark: {n} messages, one client, sandbox on SQLite")
    baseline = report("baseline: GET status (404), same client", timed(status_miss, n))
    start = time.perf_counter()
    durations = timed(send_one, n)
    elapsed = time.perf_counter() - start
    report("POST /v1/messages (MeMo build + store)", durations, baseline)
    print(f"{'throughput':<46} {n / elapsed:8.1f} messages/s")
    client.close()
    stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
