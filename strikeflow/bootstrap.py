"""The composition root: Settings in, the wired ports out.

It only wires: the adapters live in ``broker_adapters`` (the venue, the fallback, the
clock), ``db`` (the stores, the schema) and ``app_state`` (the kill switch, the scans'
claims and cool-downs); the logic they serve lives in ``services``.

- ``build_runtime`` makes what a worker process (or ``strikeflow recover``) runs the
  dispatch steps and the scan on; any piece can be handed in instead (tests pass fakes
  of the ports, the demo its simulated clock). One Runtime per process: ``runtime()``
  builds it on first use, keyed by pid, so a forked Celery child never reuses its
  parent's sockets (``workers.startup`` builds it in worker_process_init; a process that
  was never initialised, like the worker's main process running an errback, builds it
  on first use). Tests install their own with ``install_runtime``.
- ``build_records``, ``database_schema``, ``fleet_kill_switch`` and the rest are what the
  command line calls its services with, so it never opens a database or Redis itself.

Each function imports the adapters it wires when it runs: the command line reaches this
module for one reader or the database guard without loading alpaca-py, Redis or the
numerics, and nothing here opens a connection at import time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strikeflow.app_state import AppState
    from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
    from strikeflow.broker_adapters.alpaca.history import AlpacaHistory
    from strikeflow.broker_adapters.fallback import FallbackBroker
    from strikeflow.config import Settings
    from strikeflow.db.dispatch_store import SqlDispatchStore
    from strikeflow.db.repositories import RecommendationRepository
    from strikeflow.db.venue_event_store import SqlVenueEventStore
    from strikeflow.services.dispatch_policy import DispatchContext
    from strikeflow.services.kill_switch import KillSwitchControl
    from strikeflow.services.ports import (
        Broker,
        DispatchStore,
        KillSwitch,
        MarketData,
        ParkedSteps,
        ScanLock,
        SharedCache,
        SignalCooldown,
    )
    from strikeflow.services.queries import Records
    from strikeflow.services.query_ports import DatabaseSchema, PositionRecords
    from strikeflow.services.scan import ScanContext
    from strikeflow.signals.rules_file import Rules


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


def build_runtime(
    settings: Settings | None = None,
    *,
    market: MarketData | None = None,
    broker: Broker | None = None,
    fallback: FallbackBroker | None = None,
    store: DispatchStore | None = None,
    recommendations: RecommendationRepository | None = None,
    kill_switch: KillSwitch | None = None,
    scan_lock: ScanLock | None = None,
    cooldown: SignalCooldown | None = None,
    shared: SharedCache | None = None,
    now: Callable[[], datetime] | None = None,
    rules: Rules | None = None,
) -> Runtime:
    """Every piece from ``settings`` (default: the environment's), except those given.

    ``market`` and ``broker`` default to one Alpaca adapter; ``fallback`` to the
    settings' failure policy over ``broker``, simulating fills on ``market``'s prices;
    ``recommendations`` to ``store``'s; ``now`` to the venue's clock or the wall's
    (STRIKEFLOW_CLOCK); ``rules`` to STRIKEFLOW_RULES_FILE over the packaged rules,
    loaded here so that a bad file stops the process that starts with it.
    """
    from strikeflow.broker_adapters.fallback import FallbackBroker
    from strikeflow.broker_adapters.market_time import MarketTime, wall_clock
    from strikeflow.broker_adapters.simulated import SimulatedBroker
    from strikeflow.config import Settings
    from strikeflow.services.dispatch_policy import DispatchContext, DispatchPolicy
    from strikeflow.services.scan import ScanContext, load_rules

    settings = settings or Settings()
    if kill_switch is None or scan_lock is None or cooldown is None or shared is None:
        state = _app_state(settings.redis_url)
        kill_switch = state.kill_switch if kill_switch is None else kill_switch
        scan_lock = state.scan_lock if scan_lock is None else scan_lock
        cooldown = state.cooldown if cooldown is None else cooldown
        shared = state.cache if shared is None else shared
    if market is None or broker is None:
        venue = _venue(settings, shared)
        market = venue if market is None else market
        broker = venue if broker is None else broker
    if fallback is None:
        fallback = FallbackBroker(
            primary=broker,
            simulated=SimulatedBroker(market),
            policy=settings.on_broker_failure,
            live=not settings.alpaca_paper,
        )
    if store is None:
        store = _dispatch_store(settings.database_url)
    if recommendations is None:
        recommendations = store.recommendations  # type: ignore[attr-defined]
    if now is None:
        now = (
            MarketTime(market, ttl_s=settings.clock_ttl_s)
            if settings.clock == "market"
            else wall_clock
        )
    if rules is None:
        rules = load_rules(settings.rules_file)  # once per process: a bad file fails here
    context = DispatchContext(
        market=market,
        broker=broker,
        store=store,
        kill_switch=kill_switch,
        policy=DispatchPolicy.from_settings(
            settings,
            allow_short=rules.stock.allow_short,
            adjusted_contracts=rules.options.adjusted_contracts,
            working=rules.working,
        ),
        now=now,
        shared=shared,
    )
    scan = ScanContext(
        market=market,
        broker=broker,
        store=recommendations,
        lock=scan_lock,
        cooldown=cooldown,
        rules=rules,
        watchlist=settings.watchlist,
        now=now,
        shared=shared,
    )
    return Runtime(settings, context, fallback, recommendations, scan)


def _venue(settings: Settings, shared: SharedCache | None = None) -> AlpacaAdapter:
    """The Alpaca adapter, every call governed by the fleet's rate-limit budgets, kept
    where the app's own state is (STRIKEFLOW_REDIS_URL: Redis, or this process), and
    with ``shared``, the day's contract listings shared there too."""
    from strikeflow.app_state.rate_budget import rate_budget
    from strikeflow.broker_adapters.alpaca.adapter import build_alpaca_adapter
    from strikeflow.broker_adapters.alpaca.rate_limit import Governor, GovernorConfig

    adapter = build_alpaca_adapter(settings)
    budget = rate_budget(settings.redis_url)
    key = adapter.config.api_key.reveal()
    adapter.govern(Governor(budget, GovernorConfig.from_settings(settings), key))
    if shared is not None:
        adapter.share_listings(shared)
    return adapter


def market_history(settings: Settings) -> AlpacaHistory:
    """Alpaca's historical market data (``strikeflow data fetch``), on clients governed by
    the fleet's rate-limit budgets, as the venue's are (``_venue``)."""
    from strikeflow.broker_adapters.alpaca.config import AlpacaConfig

    config = AlpacaConfig.from_settings(settings)  # missing keys: said before alpaca-py loads
    from strikeflow.app_state.rate_budget import rate_budget
    from strikeflow.broker_adapters.alpaca.history import AlpacaHistory
    from strikeflow.broker_adapters.alpaca.http import build_clients
    from strikeflow.broker_adapters.alpaca.rate_limit import Governor, GovernorConfig

    governor = Governor(
        rate_budget(settings.redis_url),
        GovernorConfig.from_settings(settings),
        config.api_key.reveal(),
    )
    return AlpacaHistory(build_clients(config, governor), config)


def _dispatch_store(database_url: str) -> SqlDispatchStore:
    """The dispatch store, recording worked orders too (``db.working_store``)."""
    from strikeflow.db.engine import engine_for
    from strikeflow.db.working_store import SqlWorkingDispatchStore

    return SqlWorkingDispatchStore(engine_for(database_url))


def _app_state(redis_url: str) -> AppState:
    from strikeflow.app_state import app_state

    return app_state(redis_url)


def build_records(database_url: str | None = None) -> Records:
    """The stored records the command line reads (and ``signal`` writes), on
    ``database_url`` (default: STRIKEFLOW_DATABASE_URL). Builds the engine, which checks
    the URL (UnsupportedDatabase, DatabaseMissing); connects on the first read."""
    from strikeflow.db.engine import engine_for
    from strikeflow.db.outcome_queries import OutcomeQueries
    from strikeflow.db.reports import ReportQueries
    from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
    from strikeflow.services.queries import Records

    engine = engine_for(database_url or _settings().database_url)
    return Records(
        recommendations=RecommendationRepository(engine),
        executions=ExecutionRepository(engine),
        reports=ReportQueries(engine),
        outcomes=OutcomeQueries(engine),
    )


def position_records(database_url: str | None = None) -> PositionRecords:
    """The position book's rows and the position check's differences, on
    ``database_url`` (default: STRIKEFLOW_DATABASE_URL)."""
    from strikeflow.db.engine import engine_for
    from strikeflow.db.position_queries import PositionQueries

    return PositionQueries(engine_for(database_url or _settings().database_url))


def venue_event_store(database_url: str | None = None) -> SqlVenueEventStore:
    """Venue events' store: the activities seen, and what they recorded."""
    from strikeflow.db.engine import engine_for
    from strikeflow.db.venue_event_store import SqlVenueEventStore

    return SqlVenueEventStore(engine_for(database_url or _settings().database_url))


def venue_broker() -> Broker:
    """The venue alone (Alpaca, governed by the fleet's rate-limit budgets), for the
    command line's reads of what it holds (``strikeflow positions``)."""
    return _venue(_settings())


def database_schema(database_url: str | None = None) -> DatabaseSchema:
    """The migrations and the rows of ``database_url`` (default: STRIKEFLOW_DATABASE_URL)."""
    from strikeflow.db.database_admin import DatabaseAdmin

    return DatabaseAdmin(database_url or _settings().database_url)


def existing_databases_only() -> AbstractContextManager[None]:
    """A block in which a SQLite file is never created by using it: every command but
    ``db upgrade`` and the demo (which migrate) runs in one, so a mistyped path says
    DatabaseMissing instead of leaving an empty file behind."""
    from strikeflow.db.engine import sqlite_files

    return sqlite_files(create=False)


def close_databases() -> None:
    """Close this process's database pools (a command's end, a worker process's)."""
    from strikeflow.db.engine import dispose_all

    dispose_all()


def parked_steps(redis_url: str) -> ParkedSteps:
    """The steps parked on simulated time (STRIKEFLOW_WORK_TIMER=parked) where the app's
    own state is: Redis, or this process for ``memory://``."""
    return _app_state(redis_url).parked


def fleet_kill_switch(redis_url: str) -> KillSwitchControl:
    """The kill switch every process of the fleet reads: one key in the Redis at
    ``redis_url`` (built without connecting)."""
    from strikeflow.app_state.in_redis import RedisKillSwitch

    return RedisKillSwitch.from_url(redis_url)


def forget_scan_state(redis_url: str, claims: Sequence[str], cooldowns: Sequence[str]) -> None:
    """Delete exactly these scan claims and cool-downs from the Redis at ``redis_url``."""
    from strikeflow.app_state.in_redis import forget_scan_state

    forget_scan_state(redis_url, claims, cooldowns)


def state_store_errors() -> tuple[type[Exception], ...]:
    """What the app-state store (Redis) raises when it is down or refuses: the command
    line reports these as failures, not as bugs."""
    from strikeflow.app_state.in_redis import UNAVAILABLE_ERRORS

    return UNAVAILABLE_ERRORS


def _settings() -> Settings:
    from strikeflow.config import Settings

    return Settings()


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
