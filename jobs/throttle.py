"""How fast one organization's calls go to its gateway (its letters, its
registration lookups): one pace shared by every worker and every thread,
kept in Redis.

Each call reserves the next free moment (a generic cell rate algorithm: the
key holds the earliest moment the next call may start) and sleeps until it.
A 429 moves that moment on (hold), so all senders pause together instead of
each finding the limit again. The reservation is one Lua script, so two
callers never take one moment, and the moments come from Redis's own clock,
so workers on machines whose clocks differ share one pace.
"""

import logging
import time

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
# Sends leave evenly spaced but reach the gateway a little unevenly (the
# network, a busy worker): paced exactly at the limit, some would arrive
# closer together than it allows.
MARGIN = 0.95
HOLD_MOMENTS = 10  # moments of the pace that a 429 costs everyone, when the pace is ours

# KEYS[1]: the pace's key. ARGV[1]: milliseconds between sends (0: no limit).
# ARGV[2]: milliseconds to hold every sender (a 429), else 0.
# Returns the milliseconds this sender waits before it sends.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local hold = tonumber(ARGV[2])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local wait = 0
if hold > 0 then
  next_free = math.max(next_free, now + hold)
elseif interval > 0 or next_free > now then
  local slot = math.max(next_free, now)
  wait = slot - now
  next_free = slot + interval
else
  return '0'
end
redis.call('SET', KEYS[1], string.format('%.3f', next_free), 'PX', math.ceil(next_free - now) + 1000)
return string.format('%.3f', wait)
"""


class Pace:
    """Under `per_second` calls, the gateway's limit (0: none known; a 429
    still holds everyone), for the callers that share `key`."""

    def __init__(self, redis: Redis, key: str, per_second: float):
        self.key = key
        self.interval_ms = 1000.0 / (per_second * MARGIN) if per_second > 0 else 0.0
        self._script = redis.register_script(_RESERVE)

    def wait(self) -> None:
        """Block until this send's moment."""
        delay = self._call(self.interval_ms, 0)
        if delay > 0:
            time.sleep(delay / 1000)

    def hold(self, retry_after: float) -> None:
        """The gateway said 429. Without a pace of our own, no sender of this
        key starts before its Retry-After. With one, the limit is known and
        the refusal came of requests that arrived closer together than they
        left: everyone skips a few moments, and only the refused letter
        waits the whole Retry-After (its caller sleeps)."""
        hold_ms = retry_after * 1000
        if self.interval_ms:
            hold_ms = min(hold_ms, HOLD_MOMENTS * self.interval_ms)
        self._call(0, max(hold_ms, 1.0))

    def _call(self, interval_ms: float, hold_ms: float) -> float:
        try:
            return float(self._script(keys=[self.key], args=[interval_ms, hold_ms]))
        except RedisError as exc:
            # Without Redis nothing is queued either; the gateway's own 429s
            # and the retries' backoff still hold a round back.
            log.warning("send pace %s unavailable: %s", self.key, exc)
            return 0.0
