"""Attempt counters in Redis, so a limit holds across every web process.

An attempt is counted before it is checked (INCR first, in one round trip
with the window's expiry), so parallel requests cannot slip past the limit
between a read and a write.

When Redis cannot be reached, the limits fail open: login and the password
check still work, a warning is logged, and scrypt's cost still slows
guessing. Locking every admin out because the cache is down would be worse.
"""

import logging
from dataclasses import dataclass

from redis.exceptions import ConnectionError, RedisError, TimeoutError

from extensions import get_redis, redis_key

log = logging.getLogger(__name__)


@dataclass
class AttemptLimit:
    """At most `limit` attempts per subject within `window` seconds; the
    window starts at the first attempt."""

    name: str
    limit: int
    window: int

    def _key(self, subject: str) -> str:
        return redis_key("ratelimit", self.name, subject)

    def take(self, subject: str) -> int:
        """Count one attempt. Returns 0 when it may go ahead, otherwise the
        seconds until the subject may try again (the attempt is not made)."""
        key = self._key(subject)
        try:
            with get_redis().pipeline(transaction=True) as pipe:
                # SET NX starts the window (EXPIRE NX needs Redis 7).
                pipe.set(key, 0, ex=self.window, nx=True)
                pipe.incr(key)
                pipe.ttl(key)
                _, count, ttl = pipe.execute()
        except (ConnectionError, TimeoutError) as exc:
            log.warning("rate limit %s not counted, Redis unavailable: %s", self.name, exc)
            return 0
        if count <= self.limit:
            return 0
        return max(int(ttl), 1)

    def give_back(self, subject: str) -> None:
        """The attempt succeeded and should not count against the subject."""
        try:
            get_redis().decr(self._key(subject))
        except RedisError:
            pass

    def reset(self, subject: str) -> None:
        try:
            get_redis().delete(self._key(subject))
        except RedisError:
            pass


def minutes(seconds: int) -> int:
    return (seconds + 59) // 60
