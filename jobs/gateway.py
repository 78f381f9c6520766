"""The Digital Post transports as the jobs use them, configured from the app:
the provider API with the organization's key, or SF1601 with its certificate."""

import httpx
from cryptography.fernet import InvalidToken
from flask import current_app

from crypto import decrypt, encrypt
from digitalpost import DigitalPostClient
from digitalpost.certificates import Certificate
from digitalpost.sf1601 import ENDPOINTS, Endpoints, Environment, SF1601Client
from digitalpost.transport import Transport, TransportKind
from extensions import get_redis, redis_key
from jobs.throttle import Pace


def _timeout() -> httpx.Timeout:
    config = current_app.config
    # A short connect timeout: no connection means nothing was sent. The read
    # timeout is the longest wait for an answer to a request that went out.
    return httpx.Timeout(config["DIGITAL_POST_TIMEOUT"], connect=min(3.0, config["DIGITAL_POST_TIMEOUT"]))


def gateway_client(api_key: str) -> DigitalPostClient:
    return DigitalPostClient(current_app.config["DIGITAL_POST_API_URL"], api_key, timeout=_timeout())


def environments() -> list[Environment]:
    """The SF1601 environments an admin may choose: KOMBIT's test and
    production, and the sandbox where one is configured."""
    choices = [Environment.TEST, Environment.PRODUCTION]
    if current_app.config["SF1601_SANDBOX_URL"]:
        choices.append(Environment.SANDBOX)
    return choices


def endpoints(environment: str) -> Endpoints:
    if environment == Environment.SANDBOX:
        url = current_app.config["SF1601_SANDBOX_URL"].rstrip("/")
        return Endpoints(url, url)
    return ENDPOINTS[Environment(environment)]


def sf1601_client(certificate: Certificate, cvr: str, environment: str) -> SF1601Client:
    cafile = current_app.config["SF1601_CAFILE"] if environment == Environment.SANDBOX else None
    return SF1601Client(
        endpoints(environment), cvr, certificate, RedisTokenCache(), timeout=_timeout(), cafile=cafile or None
    )


def transport_for(integration, pending: bool = False) -> Transport:
    """The transport of the settings in force, or (pending) of those being verified."""
    if pending:
        if integration.pending_transport == TransportKind.SF1601:
            return sf1601_client(
                integration.pending_certificate, integration.pending_sender_cvr, integration.pending_environment
            )
        return gateway_client(integration.pending_api_key)
    if integration.transport == TransportKind.SF1601:
        return sf1601_client(integration.certificate, integration.sender_cvr, integration.environment)
    return gateway_client(integration.api_key)


class RedisTokenCache:
    """Serviceplatformen's tokens, shared by every worker: in Redis,
    Fernet-encrypted, expiring when the token should be taken anew."""

    def __init__(self, redis=None):
        self.redis = redis or get_redis()

    @staticmethod
    def key(name: str) -> str:
        return redis_key("tokens", name)

    def get(self, key: str) -> str | None:
        sealed = self.redis.get(self.key(key))
        if sealed is None:
            return None
        try:
            return decrypt(sealed.decode())
        except InvalidToken:  # sealed under a key since removed: take a new one
            return None

    def set(self, key: str, value: str, ttl: int) -> None:
        self.redis.set(self.key(key), encrypt(value), ex=max(ttl, 1))

    def delete(self, key: str) -> None:
        self.redis.delete(self.key(key))


def send_pace(integration) -> Pace:
    """The pace at which the organization's letters go, shared by every worker."""
    return Pace(get_redis(), redis_key("pace", integration.org_id), current_app.config["DIGITAL_POST_RATE_LIMIT"])
