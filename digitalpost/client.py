"""DigitalPostClient: the gateway API over HTTP (httpx).

Every response maps to a result or a typed error (digitalpost.errors); the
client never retries by itself, because whether to retry is the caller's
decision (a job can retry a RateLimited later, a wizard tells the admin).
"""

import logging
from dataclasses import dataclass
from datetime import datetime

import httpx

from digitalpost.errors import (
    BY_CODE,
    DuplicateMessage,
    GatewayUnavailable,
    InvalidApiKey,
    InvalidMessage,
    MessageNotFound,
    NoAnswer,
    RateLimited,
    UnexpectedResponse,
)
from digitalpost.memo import Message, build_memo
from digitalpost.transport import PaperLetter, Registration, TransportKind

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=15.0, write=10.0, pool=5.0)


@dataclass(frozen=True)
class SendResult:
    message_uuid: str
    status: str
    replayed: bool  # True when the gateway had this messageUUID already (200)


@dataclass(frozen=True)
class MessageStatus:
    message_uuid: str
    status: str  # accepted | delivered | failed
    delivered_at: datetime | None


class DigitalPostClient:
    """The provider API: a Transport (digitalpost/transport.py)."""

    kind = TransportKind.PROVIDER
    polls_status = True
    sends_paper = False

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ):
        # A key that cannot even travel in a header is as invalid as an unknown one.
        self._key_malformed = not api_key or not all("!" <= c <= "~" for c in api_key)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {'' if self._key_malformed else api_key}", "User-Agent": "Postbud/1"},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self):
        return f"DigitalPostClient({str(self._http.base_url)!r})"  # never the key

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, message: Message, paper: PaperLetter | None = None) -> SendResult:
        if paper is not None:
            raise InvalidMessage("the provider API sends no paper letters")
        body = build_memo(message)  # raises InvalidMessage before anything is sent
        response = self._request("POST", "/v1/messages", content=body, headers={"Content-Type": "application/xml"})
        if response.status_code in (200, 202):
            data = self._json(response)
            log.info("digital post: message %s %s", message.message_uuid, data.get("status"))
            return SendResult(
                data.get("messageUUID", message.message_uuid),
                data.get("status", "accepted"),
                replayed=response.status_code == 200,
            )
        self._raise_for(response)

    def registration(self, cpr: str) -> Registration:
        """Does the citizen receive Digital Post? The CPR goes in the body,
        never in a URL that an access log keeps."""
        response = self._request("POST", "/v1/registrations", json={"cpr": cpr})
        if response.status_code == 404:
            return Registration.NOT_FOUND
        if response.status_code != 200:
            self._raise_for(response)
        try:
            return Registration(self._json(response)["registration"])
        except (KeyError, ValueError):
            raise UnexpectedResponse("the registration lookup answered without a registration") from None

    def status(self, message_uuid: str) -> MessageStatus:
        response = self._request("GET", f"/v1/messages/{message_uuid}")
        if response.status_code == 404:
            raise MessageNotFound(message_uuid)
        if response.status_code != 200:
            self._raise_for(response)
        data = self._json(response)
        delivered = data.get("deliveredAt")
        return MessageStatus(
            data["messageUUID"],
            data["status"],
            datetime.fromisoformat(delivered.replace("Z", "+00:00")) if delivered else None,
        )

    def _request(self, method, url, **kwargs) -> httpx.Response:
        if self._key_malformed:
            raise InvalidApiKey("the API key is empty or not printable ASCII")
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise transport_error(exc) from None

    @staticmethod
    def _json(response: httpx.Response) -> dict:
        try:
            data = response.json()
        except ValueError:
            raise UnexpectedResponse(f"HTTP {response.status_code} without JSON") from None
        if not isinstance(data, dict):
            raise UnexpectedResponse(f"HTTP {response.status_code} with unexpected JSON")
        return data

    def _raise_for(self, response: httpx.Response):
        status = response.status_code
        if status == 429:
            raise RateLimited(_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise GatewayUnavailable(f"HTTP {status}")
        try:
            data = response.json()
        except ValueError:
            data = {}
        code = data.get("error", "") if isinstance(data, dict) else ""
        detail = str(data.get("detail", "")) if isinstance(data, dict) else ""
        if status == 401:
            raise InvalidApiKey(detail)
        if status == 409:
            raise DuplicateMessage(detail)
        if status == 400:
            raise InvalidMessage(detail)
        if code in BY_CODE:
            raise BY_CODE[code](detail)
        raise UnexpectedResponse(f"HTTP {status} {code}".strip())


def transport_error(exc: httpx.TransportError):
    """What a request that got no answer means, for either transport: no
    connection (nothing was sent), or no answer in time (it may have arrived)."""
    name = type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return GatewayUnavailable(f"no connection ({name})")
    if isinstance(exc, (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError)):
        return NoAnswer(f"no answer ({name})")
    return GatewayUnavailable(f"connection failed ({name})")


def _retry_after(value: str | None) -> float:
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 1.0
