"""Failure counters in Redis, so a limit holds across every web process."""
from dataclasses import dataclass

from jobs.connection import get_redis


@dataclass
class FailureLimit:
    """At most `limit` failures per key within `window` seconds."""

    name: str
    limit: int
    window: int

    def _key(self, subject: str) -> str:
        return f"postbud:ratelimit:{self.name}:{subject}"

    def blocked_for(self, subject: str) -> int:
        """Seconds until `subject` may try again; 0 when not blocked."""
        redis = get_redis()
        key = self._key(subject)
        count = int(redis.get(key) or 0)
        if count < self.limit:
            return 0
        return max(int(redis.ttl(key)), 1)

    def fail(self, subject: str) -> None:
        redis = get_redis()
        key = self._key(subject)
        with redis.pipeline() as pipe:
            # The window starts at the first failure (SET NX works on Redis 6 too).
            pipe.set(key, 0, ex=self.window, nx=True)
            pipe.incr(key)
            pipe.execute()

    def reset(self, subject: str) -> None:
        get_redis().delete(self._key(subject))
