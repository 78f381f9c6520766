"""The Digital Post client as the jobs use it, configured from the app."""

import httpx
from cryptography.fernet import InvalidToken
from flask import current_app

from crypto import decrypt, encrypt
from digitalpost import DigitalPostClient
from extensions import get_redis


def gateway_client(api_key: str) -> DigitalPostClient:
    config = current_app.config
    # A short connect timeout: no connection means nothing was sent. The read
    # timeout is the longest wait for an answer to a request that went out.
    timeout = httpx.Timeout(config["DIGITAL_POST_TIMEOUT"], connect=min(3.0, config["DIGITAL_POST_TIMEOUT"]))
    return DigitalPostClient(config["DIGITAL_POST_API_URL"], api_key, timeout=timeout)


class RedisTokenCache:
    """Serviceplatformen's tokens, shared by every worker: in Redis,
    Fernet-encrypted, expiring when the token should be taken anew."""

    PREFIX = "postbud:tokens:"

    def __init__(self, redis=None):
        self.redis = redis or get_redis()

    def get(self, key: str) -> str | None:
        sealed = self.redis.get(self.PREFIX + key)
        if sealed is None:
            return None
        try:
            return decrypt(sealed.decode())
        except InvalidToken:  # sealed under a key since removed: take a new one
            return None

    def set(self, key: str, value: str, ttl: int) -> None:
        self.redis.set(self.PREFIX + key, encrypt(value), ex=max(ttl, 1))

    def delete(self, key: str) -> None:
        self.redis.delete(self.PREFIX + key)
