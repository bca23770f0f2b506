"""The app's own state in Redis, shared by every process of the fleet: the kill switch
(one key), the scans' per-minute claims (SET NX PX), the signal cool-downs and the
shared cache (the last spot per ticker, the day's contract listings).

Building any of them opens nothing: the client connects on its first command.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import redis

from strikeflow.services.kill_switch import KillSwitchState, KillSwitchUnavailable

KILL_SWITCH_KEY = "strikeflow:killswitch"
COOLDOWN_PREFIX = "strikeflow:cooldown:"
# Cooldown stamps are compared on the scan's clock; this only bounds how long Redis
# keeps them (the longest cooldown is a session, 390 minutes).
COOLDOWN_KEEP_S = 2 * 24 * 3600
# Bounded waits: a Redis that hangs makes the kill switch fail closed, it does not stall
# an order.
CONNECT_TIMEOUT_S = 2
COMMAND_TIMEOUT_S = 2
CACHE_PREFIX = "strikeflow:cache:"
PARKED_KEY = "strikeflow:parked-steps"
# The cache only saves venue round trips (tens of ms): a Redis slower than this is
# treated as empty rather than waited for.
CACHE_TIMEOUT_S = 0.25
DELETE_BATCH = 500
# What the store raises when it is down or refuses: a failure to report, not a bug.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError,)


def redis_client(url: str, socket_timeout: float = COMMAND_TIMEOUT_S) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=socket_timeout
    )


class RedisKillSwitch:
    """The kill switch: one Redis key, present while trading is stopped.

    Fails closed: when Redis cannot be read, ``is_on`` says True, because an order sent
    while the switch may be on is worse than a chain that stops with a reason.
    """

    def __init__(self, client: redis.Redis, key: str = KILL_SWITCH_KEY) -> None:
        self._redis = client
        self._key = key

    @classmethod
    def from_url(cls, url: str, key: str = KILL_SWITCH_KEY) -> RedisKillSwitch:
        return cls(redis_client(url), key)

    def turn_on(self, reason: str = "manual", now: datetime | None = None) -> None:
        since = (now or datetime.now(UTC)).isoformat()
        try:
            self._redis.set(self._key, json.dumps({"reason": reason, "since": since}))
        except redis.RedisError as down:
            raise KillSwitchUnavailable(str(down)) from down

    def turn_off(self) -> None:
        try:
            self._redis.delete(self._key)
        except redis.RedisError as down:
            raise KillSwitchUnavailable(str(down)) from down

    def state(self) -> KillSwitchState:
        try:
            raw = self._redis.get(self._key)
        except redis.RedisError as unreadable:
            return KillSwitchState(True, f"kill switch unreadable: {unreadable}", readable=False)
        if raw is None:
            return KillSwitchState(False)
        try:
            value = json.loads(raw)
        except ValueError:
            value = {"reason": raw.decode(errors="replace") if isinstance(raw, bytes) else raw}
        if not isinstance(value, dict):
            value = {"reason": str(value)}
        return KillSwitchState(True, value.get("reason"), value.get("since"))

    def is_on(self) -> bool:
        return self.state().on


class RedisScanLock:
    """``ScanLock`` as SET NX PX: one claim per key until it expires or is released."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def claim(self, key: str, ttl_s: float) -> bool:
        return bool(self._redis.set(key, b"1", nx=True, px=max(1, int(ttl_s * 1000))))

    def release(self, key: str) -> None:
        # A claim that cannot be deleted expires with its ttl: never mask the scan's error.
        with contextlib.suppress(redis.RedisError):
            self._redis.delete(key)


class RedisCooldown:
    """``SignalCooldown`` as one key per ticker and action holding an ISO instant."""

    def __init__(self, client: redis.Redis, prefix: str = COOLDOWN_PREFIX) -> None:
        self._redis, self._prefix = client, prefix

    def last_recorded(self, keys: Sequence[str]) -> dict[str, datetime]:
        if not keys:
            return {}
        values = self._redis.mget([self._prefix + k for k in keys])
        out = {}
        for key, raw in zip(keys, values, strict=True):
            if raw is not None:
                with contextlib.suppress(ValueError):
                    out[key] = datetime.fromisoformat(raw.decode())
        return out

    def record(self, stamps: Mapping[str, datetime]) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            for key, at in stamps.items():
                pipe.set(self._prefix + key, at.isoformat(), ex=COOLDOWN_KEEP_S)
            pipe.execute()


class RedisSharedCache:
    """``SharedCache`` as keys with an expiry. Best effort: a Redis error or timeout
    reads as a miss and drops the write (the venue is asked instead)."""

    def __init__(self, client: redis.Redis, prefix: str = CACHE_PREFIX) -> None:
        self._redis, self._prefix = client, prefix

    @classmethod
    def from_url(cls, url: str) -> RedisSharedCache:
        return cls(redis_client(url, socket_timeout=CACHE_TIMEOUT_S))

    def get(self, key: str) -> str | None:
        try:
            raw = self._redis.get(self._prefix + key)
        except redis.RedisError:
            return None
        return None if raw is None else raw.decode(errors="replace")

    def put(self, key: str, value: str, ttl_s: float) -> None:
        self.put_many({key: value}, ttl_s)

    def put_many(self, values: Mapping[str, str], ttl_s: float) -> None:
        keep_ms = max(1, int(ttl_s * 1000))
        with contextlib.suppress(redis.RedisError), self._redis.pipeline(False) as pipe:
            for key, value in values.items():
                pipe.set(self._prefix + key, value, px=keep_ms)
            pipe.execute()


class RedisParkedSteps:
    """``ParkedSteps`` as one sorted set: each payload scored by its due instant (epoch
    seconds), equal scores in payload order. A step is taken by removing it: of two
    takers that read the same first member, the one whose ZREM removed it has it."""

    def __init__(self, client: redis.Redis, key: str = PARKED_KEY) -> None:
        self._redis, self._key = client, key

    def park(self, due: datetime, payload: str) -> None:
        self._redis.zadd(self._key, {payload: due.timestamp()})

    def take_due(self, at: datetime) -> tuple[datetime, str] | None:
        while True:
            first = self._redis.zrangebyscore(
                self._key, "-inf", at.timestamp(), start=0, num=1, withscores=True
            )
            if not first:
                return None
            member, score = first[0]
            if self._redis.zrem(self._key, member):
                return datetime.fromtimestamp(score, UTC), member.decode()


def forget_scan_state(url: str, claims: Sequence[str], cooldowns: Sequence[str]) -> None:
    """Delete exactly these scan claims and cool-downs (``cooldowns`` as the scan names
    them, unprefixed) and the steps parked on simulated time from the Redis at ``url``,
    and nothing else: a backtest or a demo starts its days afresh."""
    keys = [*claims, *(COOLDOWN_PREFIX + key for key in cooldowns), PARKED_KEY]
    client = redis_client(url, socket_timeout=5)
    try:
        for start in range(0, len(keys), DELETE_BATCH):
            client.delete(*keys[start : start + DELETE_BATCH])
    finally:
        client.close()
