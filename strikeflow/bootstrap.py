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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
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
from strikeflow.domain.orders import OptionPricing, OrderPricing
from strikeflow.domain.risk import RiskLimits
from strikeflow.services.dispatch import DispatchContext, DispatchPolicy
from strikeflow.services.ports import KillSwitch, MarketData, ScanLock, SignalCooldown
from strikeflow.services.scan import ScanContext, load_rules

KILL_SWITCH_KEY = "strikeflow:killswitch"
COOLDOWN_PREFIX = "strikeflow:cooldown:"
# Cooldown stamps are compared on the scan's clock; this only bounds how long Redis
# keeps them (the longest cooldown is a session, 390 minutes).
COOLDOWN_KEEP_S = 2 * 24 * 3600
# STRIKEFLOW_REDIS_URL=memory://... keeps the app's own state in this process: the demo
# and single-process runs need no Redis at all.
MEMORY_URL_PREFIX = "memory://"


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


class InProcessKillSwitch:
    """The kill switch of a single process (``STRIKEFLOW_REDIS_URL=memory://``): the
    RedisKillSwitch's interface over a flag, shared by everything in the process."""

    def __init__(self) -> None:
        self._state = KillSwitchState(False)
        self._lock = threading.Lock()

    def turn_on(self, reason: str = "manual", now: datetime | None = None) -> None:
        since = (now or datetime.now(UTC)).isoformat()
        with self._lock:
            self._state = KillSwitchState(True, reason, since)

    def turn_off(self) -> None:
        with self._lock:
            self._state = KillSwitchState(False)

    def state(self) -> KillSwitchState:
        with self._lock:
            return self._state

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


class InProcessScanLock:
    """``ScanLock`` for one process: claimed keys with their monotonic expiry."""

    def __init__(self) -> None:
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, ttl_s: float) -> bool:
        tick = time.monotonic()
        with self._lock:
            self._held = {k: until for k, until in self._held.items() if until > tick}
            if key in self._held:
                return False
            self._held[key] = tick + ttl_s
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)


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


class InProcessCooldown:
    """``SignalCooldown`` for one process."""

    def __init__(self) -> None:
        self._stamps: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def last_recorded(self, keys: Sequence[str]) -> dict[str, datetime]:
        with self._lock:
            return {k: self._stamps[k] for k in keys if k in self._stamps}

    def record(self, stamps: Mapping[str, datetime]) -> None:
        with self._lock:
            self._stamps.update(stamps)


@dataclass(frozen=True)
class AppState:
    """The app's own shared state (not Celery's): kill switch, scan claims, cooldowns."""

    kill_switch: KillSwitch
    scan_lock: ScanLock
    cooldown: SignalCooldown


_MEMORY_STATES: dict[str, AppState] = {}


def app_state(url: str) -> AppState:
    """Redis at ``url``, or, for ``memory://...``, this process's one in-process state
    per URL (so the CLI's kill switch and a worker thread in the same process agree)."""
    if url.startswith(MEMORY_URL_PREFIX):
        with _LOCK:
            if url not in _MEMORY_STATES:
                _MEMORY_STATES[url] = AppState(
                    InProcessKillSwitch(), InProcessScanLock(), InProcessCooldown()
                )
            return _MEMORY_STATES[url]
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return AppState(RedisKillSwitch(client), RedisScanLock(client), RedisCooldown(client))


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
    scan: ScanContext | None = None


def risk_limits(settings: Settings) -> RiskLimits:
    """The pre-trade limits from settings (0 or no cut-off: that limit is off)."""
    cutoff = settings.risk_day_trade_cutoff
    return RiskLimits(
        max_open_positions=settings.risk_max_open_positions or None,
        max_daily_realized_loss=settings.risk_max_daily_realized_loss or None,
        max_exposure_per_ticker=settings.risk_max_exposure_per_ticker or None,
        day_trade_cutoff=None if cutoff is None else time_of_day.fromisoformat(cutoff),
    )


def option_pricing(settings: Settings) -> OptionPricing:
    """How option orders are priced (STRIKEFLOW_OPTION_ORDER_PRICING, ..._SPREAD_FRACTION):
    the policy size_position and submit_order price every option order by."""
    return OptionPricing(
        mode=OrderPricing(settings.option_order_pricing),
        spread_fraction=Decimal(settings.option_spread_fraction),
    )


def dispatch_policy(settings: Settings, *, allow_short: bool = False) -> DispatchPolicy:
    """The policy every dispatch step runs by: the settings' risk limits and option
    order pricing, shorting as the rules file allows."""
    return DispatchPolicy(
        risk=risk_limits(settings), pricing=option_pricing(settings), allow_short=allow_short
    )


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
    state = app_state(settings.redis_url)
    rules = load_rules(settings.rules_file)  # once per process: a bad file fails here
    context = DispatchContext(
        market=adapter,
        broker=adapter,
        store=store,
        kill_switch=state.kill_switch,
        policy=dispatch_policy(settings, allow_short=rules.stock.allow_short),
        now=now,
    )
    scan = ScanContext(
        market=adapter,
        broker=adapter,
        store=store.recommendations,
        lock=state.scan_lock,
        cooldown=state.cooldown,
        rules=rules,
        watchlist=settings.watchlist,
        now=now,
    )
    return Runtime(settings, context, fallback, store.recommendations, scan)


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
