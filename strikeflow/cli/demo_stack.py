"""The demo's stack in one process: the emulator on an ephemeral port in simulated time,
the database migrated fresh, and a real Celery worker in a thread of this process.

Embedded (the default, nothing but Python): SQLite in a file, Celery on ``memory://``
with results in memory, the app's own state (kill switch, scan claims, cooldowns) in
memory. With
STRIKEFLOW_BROKER_URL and STRIKEFLOW_DATABASE_URL both set, the same stack runs on that
Redis and that database instead (the worker then consumes from Redis). Either way the
worker is the real one: it takes every queue from the broker and runs the real tasks.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from celery import Celery
from celery.contrib.testing.worker import start_worker

from strikeflow import bootstrap
from strikeflow.cli.embedded_results import EMBEDDED_RESULTS
from strikeflow.config import Settings
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerSpec
from strikeflow.services.manage_positions import lock_key as manage_lock_key
from strikeflow.services.scan import cooldown_key, lock_key
from strikeflow.signals.rules_file import Rules, load_rules, rules_from_mapping
from strikeflow.sim.serve import EmulatorOptions, EmulatorServer, build_app
from strikeflow.workers.config import QUEUES, celery_config

EMBEDDED = "memory://"
API_KEY, SECRET_KEY = "strikeflow-demo", "strikeflow-demo-secret"
WORKER_THREADS = 4
# memory:// is polled: kombu sleeps this long when every queue is empty (default 1 s,
# which would add a second to every step of every chain).
MEMORY_POLL_S = 0.001
HTTP_TIMEOUT_S = 10.0
# The demo's exits, over the packaged rules: a day trade in options takes its profit at
# +25 % rather than +50 %, so that the compressed day (a look every 5 minutes, one seeded
# session) shows each kind of exit: a take profit, a stop loss, a trailing stop and the
# time of day. Only the demo's; a rules file of the user's (STRIKEFLOW_RULES_FILE) wins.
DEMO_EXITS = {"exits": {"day_trade": {"option": {"take_profit_pct": 25}}}}


@dataclass(frozen=True)
class StackPlan:
    """What to run on: the market (seed, watchlist, start), and where to keep the record."""

    seed: int
    watchlist: tuple[str, ...]
    start: datetime
    db_path: Path
    log_path: Path
    minutes: tuple[datetime, ...]  # the instants the day is scanned at
    env: Mapping[str, str]  # the caller's environment, for the Redis + database switch
    reset: bool = False  # outside SQLite: empty a database that holds rows
    rules_file: Path | None = None  # the rules to trade by (else the packaged ones)
    demo_exits: bool = True  # without a rules file: the demo's exits (DEMO_EXITS)
    data_dir: Path | None = None  # a store of recorded data to replay (else the seeded market)
    # With a broker and a database of the environment's: this many worker processes
    # (each on every queue), instead of a worker in a thread of this process.
    fleet_workers: int = 0
    # Option orders worked as in production (STRIKEFLOW_OPTION_ORDER_PRICING=worked), each
    # step parked on simulated time (STRIKEFLOW_WORK_TIMER=parked) for the driver's clock
    # (demo_day.ParkedStepsClock); else priced once, marketable, as the demo's are.
    worked_orders: bool = False

    @property
    def external(self) -> bool:
        """True when the environment names a broker and a database of its own."""
        return bool(self.env.get("STRIKEFLOW_BROKER_URL")) and bool(
            self.env.get("STRIKEFLOW_DATABASE_URL")
        )


def stack_settings(plan: StackPlan, emulator_url: str) -> Settings:
    """The settings every part of the demo shares: the emulator as the venue, its
    simulated clock as "now", and the embedded stores unless the environment names others."""
    values: dict[str, Any] = {
        "alpaca_api_key": API_KEY,
        "alpaca_secret_key": SECRET_KEY,
        "alpaca_base_url": emulator_url,
        "alpaca_paper": True,
        "clock": "market",
        "on_broker_failure": "simulate",
        "watchlist": ",".join(plan.watchlist),
        # A worked order's steps are Celery countdowns of wall-clock seconds, and the
        # demo's day passes in seconds: its orders are priced once, at the far side. A
        # backtest works them, its driver running each step when simulated time is due.
        "option_order_pricing": "worked" if plan.worked_orders else "marketable_limit",
        "work_timer": "parked" if plan.worked_orders else "countdown",
    }
    if plan.rules_file is not None:
        values["rules_file"] = plan.rules_file
    if plan.external:
        values["broker_url"] = plan.env["STRIKEFLOW_BROKER_URL"]
        values["database_url"] = plan.env["STRIKEFLOW_DATABASE_URL"]
        values["result_backend"] = plan.env.get(
            "STRIKEFLOW_RESULT_BACKEND", Settings.model_fields["result_backend"].default
        )
        values["redis_url"] = plan.env.get(
            "STRIKEFLOW_REDIS_URL", Settings.model_fields["redis_url"].default
        )
    else:
        values.update(
            broker_url=EMBEDDED,
            result_backend=EMBEDDED_RESULTS,
            redis_url=EMBEDDED,
            database_url=f"sqlite:///{plan.db_path.resolve()}",
        )
    known = {k: v for k, v in values.items() if k in Settings.model_fields}
    return Settings(**known)


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as STRIKEFLOW_ variables, so code that reads Settings() agrees."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        env[f"STRIKEFLOW_{name.upper()}"] = str(value)
    return env


class DemoRefused(RuntimeError):
    """The demo will not run on what it was pointed at (a message for the user)."""


def fresh_database(url: str, reset: bool) -> None:
    """An empty database at the latest revision. A SQLite file is recreated; any other
    database may be someone's, so its rows are deleted only with ``reset``, and a database
    that holds rows without it is refused (the demo's recommendation ids are
    deterministic: a second day on the same rows would trade nothing)."""
    schema = bootstrap.database_schema(url)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        bootstrap.close_databases()
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        schema.upgrade()
        return
    schema.upgrade()
    counts = schema.row_counts()
    if any(counts.values()) and not reset:
        held = " and ".join(f"{n} rows in {t}" for t, n in counts.items() if n)
        raise DemoRefused(
            f"the database holds {held}: the demo needs an empty one. Run it with --reset"
            " to delete strikeflow's rows there, or point STRIKEFLOW_DATABASE_URL at a new"
            " database."
        )
    schema.delete_rows()


def clear_scan_state(redis_url: str, watchlist: Sequence[str], minutes: Sequence[datetime]) -> None:
    """Forget a previous demo's claims on this day's minutes (the scan's and
    manage_positions') and the watchlist's cooldowns in Redis (the exact keys, nothing
    else): the day is scanned and managed afresh."""
    bootstrap.forget_scan_state(
        redis_url,
        claims=[lock_key(watchlist, m) for m in minutes] + [manage_lock_key(m) for m in minutes],
        cooldowns=[cooldown_key(t, a) for t in watchlist for a in ("BUY", "SELL")],
    )


class DemoStack:
    """Everything the demo runs on, started by ``__enter__`` and stopped by ``__exit__``."""

    def __init__(self, plan: StackPlan, app: Celery) -> None:
        self.plan, self.app = plan, app
        venue = build_app(
            EmulatorOptions(
                seed=plan.seed,
                symbols=plan.watchlist,
                start=plan.start,
                api_key=API_KEY,
                secret_key=SECRET_KEY,
                fill_delay_s=1.0,
                data_dir=plan.data_dir,
            )
        )
        self.emulator = EmulatorServer(venue)
        self.sim_now: Callable[[], datetime] = venue.state.sim.clock.now
        self.settings: Settings | None = None
        self._exit = contextlib.ExitStack()
        self._session = requests.Session()
        # The emulator listens on loopback in this process: no proxy or .netrc applies,
        # and looking for them costs each clock move more than the move itself.
        self._session.trust_env = False
        self._session.headers.update(
            {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}
        )

    def __enter__(self) -> DemoStack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start(self) -> None:
        self._exit.callback(self._session.close)
        self.emulator.start()
        self._exit.callback(self.emulator.stop)
        settings = stack_settings(self.plan, self.emulator.url)
        self.settings = settings
        self._exit.enter_context(_environment(settings_env(settings)))
        fresh_database(settings.database_url, self.plan.reset)
        if settings.redis_url != EMBEDDED:
            clear_scan_state(settings.redis_url, self.plan.watchlist, self.plan.minutes)
        self._exit.callback(bootstrap.close_databases)
        bootstrap.install_runtime(demo_runtime(settings, self.sim_now, self.plan.demo_exits))
        self._exit.callback(bootstrap.reset_runtime)
        conf = celery_config(settings)
        if not self.plan.external:
            conf["broker_transport_options"] = {"polling_interval": MEMORY_POLL_S}
            # Task events are for Flower, which cannot reach an in-process memory://
            # broker: nobody would read them.
            conf["worker_send_task_events"] = conf["task_send_sent_event"] = False
        self.app.conf.update(conf)
        _log_to(self.plan.log_path)
        if self.plan.external:
            self._exit.callback(self.app.control.purge)
        if self.plan.external and self.plan.fleet_workers:
            self._exit.enter_context(worker_fleet(settings, self.plan))
            return
        self._exit.enter_context(
            start_worker(
                self.app,
                pool="threads",
                concurrency=WORKER_THREADS,
                queues=list(QUEUES),
                perform_ping_check=False,
                loglevel="INFO",
                logfile=str(self.plan.log_path),
                shutdown_timeout=30.0,
            )
        )

    def move_clock(self, to: datetime) -> dict[str, Any]:
        """The emulator's simulated clock to ``to`` (it fills what can fill at that instant)."""
        reply = self._session.post(
            f"{self.emulator.url}/_sim/clock", json={"to": to.isoformat()}, timeout=HTTP_TIMEOUT_S
        )
        reply.raise_for_status()
        return reply.json()


def worker_fleet(settings: Settings, plan: StackPlan) -> Fleet:
    """``plan.fleet_workers`` Celery worker processes on ``settings``' broker and database,
    each on every queue, started and awaited (their logs beside ``plan.log_path``).

    They read "now" from the emulator's clock on every use (STRIKEFLOW_CLOCK_TTL_S=0):
    the driver jumps simulated time between steps, and a reading kept for a wall second
    would carry the previous step's time into the next one's chains.
    """
    env = {**settings_env(settings), "STRIKEFLOW_CLOCK": "market", "STRIKEFLOW_CLOCK_TTL_S": "0"}
    config = FleetConfig(
        database_url=settings.database_url,
        emulator_url=settings.alpaca_base_url,
        redis=RedisDbs.of_url(settings.broker_url),
        log_dir=plan.log_path.parent,
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        env=env,
    )
    fleet = Fleet(config)
    specs = [WorkerSpec(f"backtest{n}", concurrency=1) for n in range(1, plan.fleet_workers + 1)]
    try:
        fleet.start_workers(specs)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def demo_runtime(
    settings: Settings, now: Callable[[], datetime], demo_exits: bool = True
) -> bootstrap.Runtime:
    """bootstrap's Runtime, with the emulator's simulated clock, read directly, as "now".

    Elsewhere ``STRIKEFLOW_CLOCK=market`` reads /v2/clock at most once a wall second and
    carries on by the wall clock in between: right while simulated time runs at wall
    speed, an hour behind when the demo moves it five minutes every few milliseconds
    (quote ages, DTE, the 15:10 day-trade cutoff and every timestamp would lag).
    """
    return bootstrap.build_runtime(settings, now=now, rules=demo_rules(settings, demo_exits))


def demo_rules(settings: Settings, demo_exits: bool = True) -> Rules:
    """The rules file's (STRIKEFLOW_RULES_FILE) when one is set; otherwise the packaged
    rules, with the demo's own exits (``DEMO_EXITS``) unless ``demo_exits`` is off."""
    if settings.rules_file is not None or not demo_exits:
        return load_rules(settings.rules_file)
    return rules_from_mapping(DEMO_EXITS, "the demo's exit rules")


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in os.environ for the duration, every STRIKEFLOW_ variable restored after."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("STRIKEFLOW_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("STRIKEFLOW_")]:
            del os.environ[key]
        os.environ.update(saved)


def _log_to(path: Path) -> None:
    """The worker's log goes to a file: the terminal is the progress bar's."""
    path.write_text("")
    logging.getLogger().handlers.clear()
