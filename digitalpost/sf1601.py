"""SF1601 (KombiPostAfsend) and PostForespoerg through KOMBIT's Serviceplatformen.

The path of public authorities: every call is mutual TLS with the
authority's OCES3 system certificate. A call first needs a SAML token from
the security token service (for the service's entity id) and then an access
token for it, sent as `Authorization: Holder-of-key <token>`. Both are kept
in a TokenCache shared by every worker and taken again before they expire;
a token refused in the middle of a round is fetched anew, once.

Each call carries x-TransaktionsId (a new UUID, logged) and
x-TransaktionsTid. Answers map to the same permanent and transient errors as
the provider API's (digitalpost/errors.py). Nothing here knows Flask.
"""

import base64
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Protocol

import httpx
from lxml import etree

from digitalpost.certificates import Certificate
from digitalpost.client import SendResult, transport_error
from digitalpost.errors import (
    CertificateRefused,
    DuplicateMessage,
    GatewayUnavailable,
    InvalidMessage,
    RateLimited,
    RecipientExempt,
    RecipientNotFound,
    SenderNotAuthorized,
    UnexpectedResponse,
)
from digitalpost.identifiers import normalize_cpr
from digitalpost.memo import Message, build_memo
from digitalpost.transport import PaperLetter, Registration, TransportKind

log = logging.getLogger(__name__)

ENTITY_SEND = "http://entityid.kombit.dk/service/kombipostafsend/1"
ENTITY_LOOKUP = "http://entityid.kombit.dk/service/postforespoerg/1"
TOKEN_TYPE = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"
REQUEST_TYPE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
KEY_TYPE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey"
STS_PATH = "/runtime/api/rest/wstrust/v1/issue"
TOKEN_PATH = "/service/AccessTokenService_1/token"
SEND_PATH = "/service/KombiPostAfsend_1/kombi"
LOOKUP_PATH = "/service/PostForespoerg_1/digitalpost"
# A token is taken anew this long before it expires (or at 4/5 of a short life).
REFRESH_MARGIN = 300


class KombiValg(StrEnum):
    """How NgDP is to deliver one letter."""

    DIGITAL_POST = "Digital Post"
    AUTOMATIC = "Automatisk Valg"  # Digital Post, or paper for a citizen who is exempt
    PAPER = "Fysisk Post"
    NEMSMS = "NemSMS"


@dataclass(frozen=True)
class Endpoints:
    sts: str  # the security token service (step 1)
    services: str  # the access token service (step 2) and the services


class Environment(StrEnum):
    TEST = "test"
    PRODUCTION = "production"
    SANDBOX = "sandbox"


ENDPOINTS = {
    Environment.TEST: Endpoints(
        "https://n2adgangsstyring.eksterntest-stoettesystemerne.dk", "https://exttest.serviceplatformen.dk"
    ),
    Environment.PRODUCTION: Endpoints(
        "https://n2adgangsstyring.stoettesystemerne.dk", "https://prod.serviceplatformen.dk"
    ),
}


class TokenCache(Protocol):
    """Where tokens live between calls and across workers (encrypted: the
    worker gives a Redis-backed one)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: int) -> None: ...

    def delete(self, key: str) -> None: ...


def transaction_time(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


FJERNPRINT = "urn:oio:fjernprint:3.0.0"
DKAL = "urn:oio:dkal:1.0.0"
POST_CATEGORY = "Prioritaire"


def kombi_request(message: Message, choice: KombiValg, paper: PaperLetter | None = None) -> bytes:
    """The kombi_request envelope around the letter's MeMo (with its memo:
    prefix), and for paper fjernprint's ForsendelseI with the PDF."""
    root = etree.Element("kombi_request")
    etree.SubElement(root, "KombiValgKode").text = choice.value
    root.append(etree.fromstring(build_memo(message)))
    if paper is not None:
        root.append(forsendelse(message, paper))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def forsendelse(message: Message, paper: PaperLetter):
    """fjernprint's ForsendelseI: what the print provider prints and posts."""
    f, d = f"{{{FJERNPRINT}}}", f"{{{DKAL}}}"
    part = etree.Element(f + "ForsendelseI", nsmap={None: FJERNPRINT, "dkal": DKAL})
    etree.SubElement(part, f + "AfsendelseIdentifikator").text = message.message_uuid
    etree.SubElement(part, f + "ForsendelseTypeIdentifikator").text = str(int(paper.print_type))
    receiver = etree.SubElement(etree.SubElement(part, f + "ForsendelseModtager"), d + "AfsendelseModtager")
    etree.SubElement(receiver, d + "CPRnummerIdentifikator").text = normalize_cpr(message.recipient_cpr)
    etree.SubElement(part, f + "FilformatNavn").text = "PDF"
    etree.SubElement(part, f + "MeddelelseIndholdData").text = base64.b64encode(paper.pdf).decode("ascii")
    etree.SubElement(etree.SubElement(part, f + "DokumentParametre"), f + "TitelTekst").text = paper.title[:256]
    etree.SubElement(etree.SubElement(part, f + "PostParametre"), f + "PostKategoriKode").text = POST_CATEGORY
    return part


class SF1601Client:
    """Serviceplatformen: a Transport (digitalpost/transport.py). Delivery
    status arrives later as receipts from the message broker."""

    kind = TransportKind.SF1601
    polls_status = False
    sends_paper = True

    def __init__(
        self,
        endpoints: Endpoints,
        cvr: str,
        certificate: Certificate,
        cache: TokenCache,
        timeout: httpx.Timeout | float = 15.0,
        cafile: str | None = None,
    ):
        self.endpoints = endpoints
        self.cvr = cvr
        self.certificate = certificate
        self.cache = cache
        # Known implementations speak HTTP/1.1 to Serviceplatformen (httpx's default).
        self._http = httpx.Client(
            verify=certificate.ssl_context(cafile), timeout=timeout, headers={"User-Agent": "Postbud/1"}
        )

    def __repr__(self):
        return f"SF1601Client({self.endpoints.services!r}, cvr={self.cvr!r})"  # never the key

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the services ------------------------------------------------------

    def send(self, message: Message, paper: PaperLetter | None = None, choice: KombiValg | None = None) -> SendResult:
        """Digital Post; with paper, Automatisk Valg (paper for the exempt)."""
        choice = choice or (KombiValg.AUTOMATIC if paper is not None else KombiValg.DIGITAL_POST)
        body = kombi_request(message, choice, paper)  # raises InvalidMessage before anything is sent
        response = self._call("POST", SEND_PATH, ENTITY_SEND, content=body, headers={"Content-Type": "application/xml"})
        if response.status_code == 200:
            answer = _xml(response)
            log.info("sf1601: message %s accepted (%s)", message.message_uuid, answer.get("transmission"))
            return SendResult(message.message_uuid, "accepted", replayed=False)
        self._raise_for(response)

    def registration(self, cpr: str) -> Registration:
        try:
            return Registration.DIGITAL if self.is_registered(cpr) else Registration.EXEMPT
        except RecipientNotFound:
            return Registration.NOT_FOUND

    def status(self, message_uuid: str):
        raise NotImplementedError("SF1601's delivery status arrives as receipts from the message broker")

    def is_registered(self, cpr: str) -> bool:
        """PostForespoerg: does the citizen receive Digital Post?"""
        response = self._call("GET", LOOKUP_PATH, ENTITY_LOOKUP, params={"cprNumber": normalize_cpr(cpr)})
        if response.status_code == 404:
            raise RecipientNotFound("no such CPR number")
        if response.status_code != 200:
            self._raise_for(response)
        try:
            return bool(response.json()["result"])
        except (ValueError, KeyError, TypeError):
            raise UnexpectedResponse("PostForespoerg answered without a result") from None

    # --- tokens ----------------------------------------------------------------

    def _key(self, entity: str, kind: str) -> str:
        return f"sf1601:{self.cvr}:{self.certificate.serial}:{entity}:{kind}"

    def access_token(self, entity: str, fresh: bool = False) -> str:
        """The Authorization header's value for a service: cached, or the
        two-step flow (a SAML token, then an access token for it)."""
        key = self._key(entity, "access")
        if not fresh:
            cached = self.cache.get(key)
            if cached:
                return cached
        saml = None if fresh else self.cache.get(self._key(entity, "saml"))
        if saml is None:
            saml = self._saml_token(entity)
        response = self._post(self.endpoints.services + TOKEN_PATH, data={"saml-token": saml})
        if response.status_code in (400, 401, 403):
            # The SAML token may have lapsed early: one fresh one, then give up.
            self.cache.delete(self._key(entity, "saml"))
            response = self._post(self.endpoints.services + TOKEN_PATH, data={"saml-token": self._saml_token(entity)})
        data = self._token_json(response)
        value = f"{data.get('token_type') or 'Holder-of-key'} {data['access_token']}"
        self.cache.set(key, value, _ttl(float(data.get("expires_in", 3600))))
        return value

    def _saml_token(self, entity: str) -> str:
        payload = {
            "TokenType": TOKEN_TYPE,
            "RequestType": REQUEST_TYPE,
            "KeyType": KEY_TYPE,
            "AnvenderKontekst": {"Cvr": self.cvr},
            "UseKey": self.certificate.use_key,
            "AppliesTo": {"EndpointReference": {"Address": entity}},
            "OnBehalfOf": None,
        }
        data = self._token_json(self._post(self.endpoints.sts + STS_PATH, json=payload))
        try:
            assertion = data["RequestedSecurityToken"]["Assertion"]
            lifetime = datetime.strptime(data["Lifetime"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=timezone.utc)
        except (KeyError, TypeError, ValueError):
            raise UnexpectedResponse("the token service answered without a token") from None
        self.cache.set(
            self._key(entity, "saml"), assertion, _ttl((lifetime - datetime.now(timezone.utc)).total_seconds())
        )
        return assertion

    def _token_json(self, response: httpx.Response) -> dict:
        if response.status_code in (401, 403):
            raise CertificateRefused(f"the token service answered {response.status_code}")
        if response.status_code >= 500:
            raise GatewayUnavailable(f"the token service answered {response.status_code}")
        if response.status_code != 200:
            raise UnexpectedResponse(f"the token service answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise UnexpectedResponse("the token service answered without JSON") from None
        if not isinstance(data, dict) or ("access_token" not in data and "RequestedSecurityToken" not in data):
            raise UnexpectedResponse("the token service answered without a token")
        return data

    # --- HTTP ---------------------------------------------------------------------

    def _call(self, method: str, path: str, entity: str, **kwargs) -> httpx.Response:
        """A service call with its token; a refused token is taken anew once."""
        headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            transaction = str(uuid.uuid4())
            call_headers = {
                **headers,
                "Authorization": self.access_token(entity, fresh=attempt == 2),
                "x-TransaktionsId": transaction,
                "x-TransaktionsTid": transaction_time(),
            }
            started = time.monotonic()
            response = self._request(method, self.endpoints.services + path, headers=call_headers, **kwargs)
            log.info(
                "sf1601 %s %s: %s in %.0f ms [transaction %s]",
                method,
                path,
                response.status_code,
                (time.monotonic() - started) * 1000,
                transaction,
            )
            if response.status_code != 401:
                return response
            self.cache.delete(self._key(entity, "access"))
        raise CertificateRefused("Serviceplatformen refused a fresh token")

    def _post(self, url: str, **kwargs) -> httpx.Response:
        return self._request("POST", url, **kwargs)

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if _certificate_alert(exc):
                # The server refused the certificate during the handshake
                # (TLS 1.3 says so after it, as a read error): not passing.
                raise CertificateRefused(f"TLS: {_certificate_alert(exc)}") from None
            raise transport_error(exc) from None

    @staticmethod
    def _raise_for(response: httpx.Response):
        status = response.status_code
        if status == 429:
            raise RateLimited(1.0)  # no Retry-After is documented: the caller throttles itself
        if status >= 500:
            raise GatewayUnavailable(f"HTTP {status}")
        answer = _xml(response)
        code, text = answer.get("code", ""), answer.get("text", "")
        if status == 403:
            raise SenderNotAuthorized(text)
        if code == "recipient_exempt":
            raise RecipientExempt(text)
        if code == "recipient_not_found":
            raise RecipientNotFound(text)
        if code == "duplicate_message_uuid":
            raise DuplicateMessage(text)
        if status == 400:
            raise InvalidMessage(text)
        raise UnexpectedResponse(f"HTTP {status} {code}".strip())


# TLS alerts with which a server refuses the client's certificate.
_CERTIFICATE_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "UNKNOWN_CA",
    "BAD_CERTIFICATE",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_UNKNOWN",
    "ACCESS_DENIED",
)


def _certificate_alert(exc: BaseException | None) -> str | None:
    """The TLS alert, anywhere in the exception's chain, with which the
    server refused the client's certificate."""
    while exc is not None:
        text = str(exc).upper()
        if "ALERT" in text:
            found = next((alert for alert in _CERTIFICATE_ALERTS if alert in text), None)
            if found:
                return found.lower()
        exc = exc.__cause__ or exc.__context__
    return None


def _ttl(seconds: float) -> int:
    margin = min(REFRESH_MARGIN, seconds / 5)
    return max(int(seconds - margin), 1)


def _xml(response: httpx.Response) -> dict:
    """A kombi_response's result, transmission id and error, as far as given."""
    try:
        root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return {}
    return {
        "result": root.findtext("Resultat"),
        "transmission": root.findtext("TransmissionId"),
        "code": root.findtext("FejlKode") or "",
        "text": root.findtext("FejlTekst") or "",
    }
