"""A CPR handed from a request to a job: Fernet-encrypted under a Redis key
that expires, never in the job's arguments, and deleted once the job is done
with it. The verification mail and the test letter use it."""

import json

from redis.exceptions import RedisError

from crypto import decrypt, encrypt
from extensions import get_redis


def _key(purpose: str, ident) -> str:
    return f"postbud:{purpose}:{ident}"


def seal(purpose: str, ident, secret: dict, ttl: int) -> None:
    """Raises a Redis error when Redis cannot be reached; nothing is kept then."""
    get_redis().set(_key(purpose, ident), encrypt(json.dumps(secret)), ex=ttl)


def unseal(purpose: str, ident) -> dict | None:
    sealed = get_redis().get(_key(purpose, ident))
    return json.loads(decrypt(sealed.decode())) if sealed is not None else None


def forget(purpose: str, ident) -> None:
    try:
        get_redis().delete(_key(purpose, ident))
    except RedisError:
        pass  # it expires anyway
