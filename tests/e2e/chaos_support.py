"""What the chaos suite breaks, each under the test's own control: its own PostgreSQL
database and the fleet's workers (its own redis-server is strikeflow.devfleet's); and
what it reads of the fleet's broker to know when nothing is in flight."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, text

from strikeflow.db.engine import dispose_all
from strikeflow.devfleet.emulator import SubprocessEmulator, free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerProcess
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.workers.config import QUEUES
from tests.integration.emulator import EmulatorHandle
from tests.one_price import ONE_PRICE_ENV

DEADLINE_S = 20.0
REPO = Path(__file__).resolve().parents[2]
# A Monday far enough ahead that its expirations are "today or later" for the views.
MONDAY = datetime(2037, 11, 16, 10, 45, tzinfo=NEW_YORK)
SEED = 20261201
# Every terminal state, the venue's final word (unfilled) included.
TERMINAL = frozenset(s.value for s in RecommendationStatus if s.terminal)
CHAOS_APP = "tests.e2e.chaos_worker"
# kombu's Redis transport: a queue is a list per priority step (the name alone for the
# default), and what it delivered waits in one hash until acknowledged.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED = "unacked"


@contextlib.contextmanager
def own_world(
    url: str,
    tmp_path: Path,
    keys: tuple[str, str],
    env: Mapping[str, str] | None = None,
    **venue: Any,
) -> Iterator[tuple[FleetConfig, Fleet, EmulatorHandle]]:
    """The test's own redis-server, the emulator in its own process (simulated clock,
    standing still until the test moves it; ``venue``: its options over these), a fleet
    on them with ``env`` (no per-ticker or count limit: sizing takes a share of the
    cash); everything stopped on the way out."""
    key, secret = keys
    with contextlib.ExitStack() as stack:
        redis_server = RedisServer(tmp_path / "redis.log").start()
        stack.callback(redis_server.stop)
        options = EmulatorOptions(**{
            "seed": SEED, "clock": "sim", "start": MONDAY, "api_key": key,
            "secret_key": secret, "fill_delay_s": 1.0, "partial_fill_rate": 0.0,
            "cash": 10_000_000, **venue,
        })  # fmt: skip
        emulator = SubprocessEmulator.from_options(options, free_port(), tmp_path / "emulator.log")
        stack.enter_context(emulator)
        config = FleetConfig(
            database_url=url,
            emulator_url=emulator.url,
            redis=RedisDbs(broker=0, backend=1, app=2, port=redis_server.port),
            log_dir=tmp_path / "logs",
            api_key=key,
            secret_key=secret,
            env={
                **ONE_PRICE_ENV,
                "STRIKEFLOW_RISK_MAX_OPEN_POSITIONS": "0",
                "STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER": "0",
                **(env or {}),
            },
        )
        fleet = stack.enter_context(Fleet(config))
        stack.callback(dispose_all)
        yield config, fleet, EmulatorHandle(emulator.url, key, secret)


def chaos_env(chaos_dir: Path, kills: str, max_fires: int, visibility_s: float) -> dict[str, str]:
    """The environment of a chaos_worker: its kill points and its visibility timeout."""
    return {
        "PYTHONPATH": str(REPO),
        "CHAOS_KILLS": kills,
        "CHAOS_DIR": str(chaos_dir),
        "CHAOS_MAX_FIRES": str(max_fires),
        "CHAOS_VISIBILITY_TIMEOUT_S": str(visibility_s),
    }


def strikeflow_json(
    config: FleetConfig, *args: str, answers: tuple[int, ...] = (0,), timeout_s: float = 120.0
):
    """``strikeflow ARGS --json`` as an operator runs it, with the fleet's settings:
    (exit code, the JSON it printed last); an exit code not in ``answers`` fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    env.update(config.settings_env())
    done = subprocess.run(
        [sys.executable, "-m", "strikeflow", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode in answers, done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def strikeflow_recover(config: FleetConfig, *args: str, timeout_s: float = 120.0):
    """``strikeflow recover``: (exit code, report). 3 is an answer too: the venue could
    not be asked about some."""
    return strikeflow_json(config, "recover", *args, answers=(0, 3), timeout_s=timeout_s)


def broker_holds(config: FleetConfig) -> int:
    """The messages the fleet's broker holds, read in one transaction: queued on any of
    the pipeline's queues, or delivered and not yet acknowledged (every task acks late: a
    step running, a retry waiting out its countdown, a dead worker's step until the
    visibility timeout gives it back). 0: no chain is in flight anywhere."""
    client = redis.Redis(
        host=config.redis.host, port=config.redis.port, db=config.redis.broker, socket_timeout=5
    )
    try:
        with client.pipeline(transaction=True) as pipe:
            for queue in QUEUES:
                for priority in PRIORITY_SUFFIXES:
                    pipe.llen(queue + priority)
            pipe.hlen(UNACKED)
            return sum(pipe.execute())
    finally:
        client.close()


def refuse_connections(admin_url: str, database: str, seconds: float) -> int:
    """PostgreSQL refuses ``database`` for ``seconds``: new connections are turned away
    and every open one is terminated. Returns how many backends were terminated."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).scalar_one()
            threading.Event().wait(seconds)  # the outage's length, not a synchronisation
            conn.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()
    return int(ended)


@dataclass
class Killer:
    """A thread that restarts dead workers (killed by their own kill points or by it)
    and SIGKILLs a worker, chosen by a seeded generator, every few seconds.

    Only a worker up for ``booted_s`` since the thread last started it is a candidate: a
    kill in the middle of a Celery boot meets no task and proves nothing."""

    fleet: Fleet
    seed: int
    every_s: tuple[float, float] = (4.0, 8.0)
    max_random_kills: int = 12
    booted_s: float = 6.0
    random_kills: int = 0
    restarts: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._stop = threading.Event()
        self._killing = threading.Event()
        self._started_at: dict[str, float] = {}  # those it restarted: when
        self._thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)

    def start(self) -> None:
        self._killing.set()
        self._thread.start()

    def stop_killing(self) -> None:
        self._killing.clear()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=DEADLINE_S)

    def _run(self) -> None:
        next_kill = time.monotonic() + self._rng.uniform(*self.every_s)
        while not self._stop.wait(0.2):
            for name, worker in list(self.fleet.workers.items()):
                if not worker.alive():
                    self.fleet.start(worker.spec)
                    self._started_at[name] = time.monotonic()
                    self.restarts += 1
                    self.log.append(f"restarted {name}")
            due = time.monotonic() >= next_kill and self.random_kills < self.max_random_kills
            if not (self._killing.is_set() and due):
                continue
            booted = [
                name
                for name, worker in sorted(self.fleet.workers.items())
                if self._booted(name, worker)
            ]
            if not booted:
                continue  # every worker is (re)starting: the next tick tries again
            name = self._rng.choice(booted)
            self.fleet.workers[name].kill()
            self.random_kills += 1
            self.log.append(f"killed {name}")
            next_kill = time.monotonic() + self._rng.uniform(*self.every_s)

    def _booted(self, name: str, worker: WorkerProcess) -> bool:
        started = self._started_at.get(name)
        return worker.alive() and (started is None or time.monotonic() - started >= self.booted_s)
