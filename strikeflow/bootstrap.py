"""The composition root: Settings in, the wired ports out, one Runtime per process.

Everything here is built on demand and keyed by pid, so a forked Celery child never
reuses its parent's sockets (``workers.startup`` builds it in worker_process_init; a
process that was never initialised, like the worker's main process running an errback,
builds it on first use). Tests install their own Runtime with ``install_runtime``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from strikeflow.broker_adapters.alpaca import build_alpaca_adapter
from strikeflow.broker_adapters.fallback import FallbackBroker
from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.config import Settings
from strikeflow.db.dispatch_store import SqlDispatchStore
from strikeflow.db.engine import engine_for
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.domain.errors import BrokerError
from strikeflow.services.dispatch import DispatchContext, DispatchPolicy
from strikeflow.services.ports import MarketData

KILL_SWITCH_KEY = "strikeflow:killswitch"


@dataclass(frozen=True)
class KillSwitchState:
    on: bool
    reason: str | None = None
    since: str | None = None
    readable: bool = True


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
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return cls(client, key)

    def turn_on(self, reason: str = "manual", now: datetime | None = None) -> None:
        since = (now or datetime.now(UTC)).isoformat()
        self._redis.set(self._key, json.dumps({"reason": reason, "since": since}))

    def turn_off(self) -> None:
        self._redis.delete(self._key)

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


class MarketTime:
    """``now`` from the venue's clock (the emulator's simulated time), read at most once
    a second; the wall clock when ``STRIKEFLOW_CLOCK=wall`` (production).

    When the venue cannot be read (it is down: the very case the fallback policy is for),
    ``now`` carries on from the last reading by the time elapsed since, or is the wall
    clock if there never was one: recording a simulated fill must not need the venue.
    """

    def __init__(self, market: MarketData, ttl_s: float = 1.0) -> None:
        self._market, self._ttl = market, ttl_s
        self._cached: tuple[float, datetime] | None = None  # the last good reading
        self._asked_at: float | None = None  # the last attempt, good or not
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            tick = time.monotonic()
            if self._asked_at is None or tick - self._asked_at > self._ttl:
                self._asked_at = tick  # a venue that is down is asked again after the ttl too
                with contextlib.suppress(BrokerError):
                    self._cached = (tick, self._market.clock().timestamp)
            if self._cached is None:
                return wall_clock()
            read_at, venue_now = self._cached
            if read_at == self._asked_at:
                return venue_now
            return venue_now + timedelta(seconds=tick - read_at)


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """What one process uses: the dispatch context and the stores the CLI and tasks need.

    ``context.broker`` is the real broker alone, so a refusal stays a refusal;
    ``fallback`` stands in with a simulated fill only after submit_order's retries on
    BrokerUnavailable are spent (see broker_adapters.fallback).
    """

    settings: Settings
    context: DispatchContext
    fallback: FallbackBroker
    recommendations: RecommendationRepository


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    adapter = build_alpaca_adapter(settings)
    fallback = FallbackBroker(
        primary=adapter,
        simulated=SimulatedBroker(adapter),
        policy=settings.on_broker_failure,
        live=not settings.alpaca_paper,
    )
    store = SqlDispatchStore(engine_for(settings.database_url))
    now: Callable[[], datetime] = MarketTime(adapter) if settings.clock == "market" else wall_clock
    context = DispatchContext(
        market=adapter,
        broker=adapter,
        store=store,
        kill_switch=RedisKillSwitch.from_url(settings.redis_url),
        policy=DispatchPolicy(),
        now=now,
    )
    return Runtime(settings, context, fallback, store.recommendations)


_RUNTIMES: dict[int, Any] = {}
_LOCK = threading.Lock()


def runtime() -> Runtime:
    """This process's Runtime, built on first use."""
    pid = os.getpid()
    with _LOCK:
        if pid not in _RUNTIMES:
            _RUNTIMES.clear()  # anything inherited across fork belongs to the parent
            _RUNTIMES[pid] = build_runtime()
        return _RUNTIMES[pid]


def init_runtime(settings: Settings | None = None) -> Runtime:
    """Build this process's Runtime now (worker_process_init), replacing any other."""
    return install_runtime(build_runtime(settings))


def install_runtime(rt: Any) -> Any:
    """Use ``rt`` in this process (tests install fakes); returns it."""
    with _LOCK:
        _RUNTIMES.clear()
        _RUNTIMES[os.getpid()] = rt
    return rt


def reset_runtime() -> None:
    with _LOCK:
        _RUNTIMES.clear()
