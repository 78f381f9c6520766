"""A CPR handed from a request to a job: Fernet-encrypted under a Redis key
that expires, never in the job's arguments, and deleted once the job is done
with it. The verification mail and the test letter use it."""

import json

from flask import current_app
from redis.exceptions import RedisError
from rq import Callback, Retry

from crypto import decrypt, encrypt
from extensions import get_queue, get_redis, redis_key

# Longer than one send with its connect and read timeouts; rq kills the job
# after this, and its failure callback records the outcome.
JOB_TIMEOUT = 60


def _key(purpose: str, ident) -> str:
    return redis_key(purpose, ident)


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


def enqueue_sealed(purpose: str, ident, secret: dict, ttl: int, job, *args, on_failure, **options) -> None:
    """Seal the secret for the job and enqueue it, retried after transient
    trouble at VERIFICATION_RETRY_INTERVALS. Call after the job's row is
    committed. Raises a Redis error when the queue is unreachable; nothing
    is kept then."""
    seal(purpose, ident, secret, ttl)
    intervals = current_app.config["VERIFICATION_RETRY_INTERVALS"]
    try:
        get_queue().enqueue(
            job,
            *args,
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            job_timeout=JOB_TIMEOUT,
            on_failure=Callback(on_failure),
            result_ttl=3600,
            **options,
        )
    except RedisError:
        forget(purpose, ident)  # no job will come for it
        raise
