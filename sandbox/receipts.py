"""The message broker as the sandbox plays it: PKO_PostStatus receipts for
every letter its SF1601 port took, pushed to the sender's endpoint.

Each accepted letter gets "Modtaget", then "Afleveret" (or "Fejlet" for a
CPR in SANDBOX_RECEIPT_FAIL_CPRS), posted as JSON to SANDBOX_RECEIPT_URL and
signed with SANDBOX_RECEIPT_SECRET (HMAC-SHA256, X-Postbud-Signature). An
answer that is not 2xx is delivered again later, as the broker does. Faults
for the tests: SANDBOX_RECEIPT_DELAY_MS before each event,
SANDBOX_RECEIPT_DUPLICATES (the share of events sent twice) and
SANDBOX_RECEIPT_REORDER (the final event before "Modtaget").
"""

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import random
import threading
import time
from datetime import datetime, timezone

import httpx

log = logging.getLogger(__name__)
RETRY_DELAYS = (0.2, 0.5, 1, 2, 5, 10, 30)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event(message_uuid: str, status: str, channel: str, error: tuple[str, str] | None = None) -> dict:
    data = {
        "beskedtype": "PKO_PostStatus",
        "MessageUUID": message_uuid,
        "KanalKode": channel,
        "TransaktionsStatusKode": status,
        "TransaktionsDatoTid": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if error:
        data["FejlDetaljer"] = {"FejlKode": error[0], "FejlTekst": error[1]}
    return data


class ReceiptPusher:
    """A thread that posts receipts when they are due, retrying refusals."""

    def __init__(self, url: str, secret: str, delay_ms: int = 0, duplicates: float = 0.0, reorder: bool = False):
        self.url, self.secret = url, secret
        self.delay, self.duplicates, self.reorder = delay_ms / 1000, duplicates, reorder
        self._heap: list = []
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._busy = 0
        self.delivered: list[dict] = []  # what the endpoint took (2xx), for tests
        self._thread = None

    def letter_taken(self, message_uuid: str, paper: bool, failure: tuple[str, str] | None = None) -> None:
        if not self.url:
            return
        channel = "Fysisk Post" if paper else "Digital Post"
        first = event(message_uuid, f"Modtaget {channel}", channel)
        final = (
            event(message_uuid, "Fejlet", channel, failure)
            if failure
            else event(message_uuid, f"Afleveret {channel}", channel)
        )
        events = [final, first] if self.reorder else [first, final]
        if self.duplicates and random.random() < self.duplicates:
            events.append(dict(events[0]))
        now = time.monotonic()
        with self._cv:
            for n, item in enumerate(events):
                heapq.heappush(self._heap, (now + self.delay * (n + 1), next(self._order), item, 0))
            self._start()
            self._cv.notify()

    def wait_idle(self, timeout: float = 30) -> bool:
        """Until nothing is due or being posted (for tests)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
        return True

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-receipts", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                with self._cv:
                    while not self._heap or self._heap[0][0] > time.monotonic():
                        wait = self._heap[0][0] - time.monotonic() if self._heap else None
                        self._cv.wait(wait)
                    _due, _n, item, tries = heapq.heappop(self._heap)
                    self._busy += 1
                try:
                    ok = self._post(client, item)
                finally:
                    with self._cv:
                        self._busy -= 1
                        if not ok and tries < len(RETRY_DELAYS):
                            heapq.heappush(
                                self._heap, (time.monotonic() + RETRY_DELAYS[tries], next(self._order), item, tries + 1)
                            )
                        self._cv.notify_all()

    def _post(self, client: httpx.Client, item: dict) -> bool:
        body = json.dumps(item).encode()
        try:
            response = client.post(
                self.url,
                content=body,
                headers={"Content-Type": "application/json", "X-Postbud-Signature": sign(self.secret, body)},
            )
        except httpx.HTTPError as exc:
            log.warning("receipt for %s not delivered: %s", item["MessageUUID"], type(exc).__name__)
            return False
        if response.is_success:
            self.delivered.append(item)
            return True
        log.info("receipt for %s answered %s; delivered again later", item["MessageUUID"], response.status_code)
        return False
