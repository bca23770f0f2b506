"""The venue's request budgets, shared by every process of the fleet (Redis) or kept in
one process (``memory://``, the demo): the store under the Alpaca rate-limit governor
(``broker_adapters.alpaca.rate_limit``).

Each budget is a token bucket: ``capacity`` tokens, refilled at ``rate_per_s``. A call
takes one token; an ordinary call only while more than ``floor`` tokens remain, so the
last ``floor`` tokens are left for the calls that may dig into them (order submits,
cancels and replaces). A budget can also be held, all of it, until an instant: the
venue said no call is left before its reset.

In Redis one Lua script reads, refills and takes in one atomic step, on Redis's own
clock (``TIME``), so hosts whose clocks disagree still share one bucket; a budget costs
one round trip a call. Keys expire when idle, so a budget nobody uses leaves nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

log = logging.getLogger("strikeflow.rate_limit")

RATE_BUDGET_PREFIX = "strikeflow:ratelimit:"
IDLE_EXPIRY_MS = 10 * 60 * 1000  # a bucket untouched this long is full again anyway

# KEYS: bucket, hold. ARGV: rate per second, capacity, floor, idle expiry (ms).
# Returns {wait in ms (0: granted), 1 when the wait is a hold the venue asked for}.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local hold = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold > now then
  return {math.ceil((hold - now) * 1000), 1}
end
local rate, cap, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then
  tokens, at = cap, now
end
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= floor + 1 then
  tokens = tokens - 1
else
  wait = math.max(1, math.ceil((floor + 1 - tokens) / rate * 1000))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return {wait, 0}
"""

# KEYS: hold. ARGV: until (unix seconds). Keeps the later of two holds; expires with it.
HOLD_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_s = tonumber(ARGV[1])
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_s <= now or until_s <= held then
  return 0
end
redis.call('SET', KEYS[1], tostring(until_s), 'PX', math.ceil((until_s - now) * 1000))
return 1
"""


class RedisRateBudget:
    """Budgets in Redis: one bucket and one hold key per budget name.

    Fails open: with Redis unreadable a call is let through (and logged), since the
    venue still enforces its limit and the governor still obeys its 429s, whereas a
    budget that failed closed would stop every order with the store.
    """

    def __init__(self, client: redis.Redis, prefix: str = RATE_BUDGET_PREFIX) -> None:
        self._redis, self._prefix = client, prefix
        self._take = client.register_script(TAKE_SCRIPT)
        self._hold = client.register_script(HOLD_SCRIPT)

    def take(
        self, name: str, rate_per_s: float, capacity: float, floor: float
    ) -> tuple[float, bool]:
        """(seconds to wait, whether the venue's hold is why); (0.0, False): granted."""
        keys = [self._prefix + name, self._prefix + name + ":hold"]
        try:
            wait_ms, held = self._take(
                keys=keys, args=[rate_per_s, capacity, floor, IDLE_EXPIRY_MS]
            )
        except redis.RedisError as down:
            log.warning("rate budget %s unreadable, call let through: %s", name, down)
            return 0.0, False
        return int(wait_ms) / 1000, bool(held)

    def hold_until(self, name: str, until_epoch_s: float) -> None:
        """No call of budget ``name`` before ``until_epoch_s`` (unix seconds)."""
        try:
            self._hold(keys=[self._prefix + name + ":hold"], args=[until_epoch_s])
        except redis.RedisError as down:
            log.warning("rate budget %s: hold not recorded: %s", name, down)


class InProcessRateBudget:
    """The same budgets inside one process, shared by its threads: the demo's worker
    threads and anything else that runs without a Redis."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic, self._wall = monotonic, wall
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._holds: dict[str, float] = {}  # name -> until, on the monotonic clock
        self._lock = threading.Lock()

    def take(
        self, name: str, rate_per_s: float, capacity: float, floor: float
    ) -> tuple[float, bool]:
        now = self._monotonic()
        with self._lock:
            hold = self._holds.get(name, 0.0)
            if hold > now:
                return hold - now, True
            tokens, at = self._buckets.get(name, (capacity, now))
            tokens = min(capacity, tokens + max(0.0, now - at) * rate_per_s)
            wait = 0.0
            if tokens >= floor + 1:
                tokens -= 1
            else:
                wait = max(0.001, (floor + 1 - tokens) / rate_per_s)
            self._buckets[name] = (tokens, now)
            return wait, False

    def hold_until(self, name: str, until_epoch_s: float) -> None:
        until = self._monotonic() + (until_epoch_s - self._wall())
        with self._lock:
            if until > self._holds.get(name, 0.0):
                self._holds[name] = until


_IN_PROCESS: dict[str, InProcessRateBudget] = {}
_LOCK = threading.Lock()


def rate_budget(url: str) -> RedisRateBudget | InProcessRateBudget:
    """The budgets at ``url``: Redis (the fleet's app-state Redis), or for ``memory://...``
    this process's one store per URL. Opens no connection until the first call."""
    if url.startswith("memory://"):
        with _LOCK:
            return _IN_PROCESS.setdefault(url, InProcessRateBudget())
    from strikeflow.app_state.in_redis import redis_client

    return RedisRateBudget(redis_client(url))
