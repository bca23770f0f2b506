"""Celery processes on the caller's Redis db numbers and database: workers, beat, Flower.

Each runs ``python -m celery -A strikeflow.workers.app ...`` in its own session with every
STRIKEFLOW_ setting given explicitly (nothing inherited from the caller's environment)
and logs to one file. Workers are awaited with ``app.control.ping(destination=...)``,
beat by its start line, Flower by its /healthcheck. Stopping is SIGTERM (warm shutdown),
then SIGKILL of the whole process group after a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from celery import Celery

from strikeflow.config import Settings
from strikeflow.devfleet.processes import STOP_DEADLINE_S, LoggedProcess, signal_group
from strikeflow.workers.config import QUEUES, celery_config

ALL_QUEUES: tuple[str, ...] = tuple(QUEUES)
START_DEADLINE_S = 60.0
CELERY_APP = "strikeflow.workers.app"


@dataclass(frozen=True)
class RedisDbs:
    """The db numbers a fleet owns on one Redis: Celery's broker and results, and the
    app's own keys (the kill switch). Never 0, 1 or 2 in tests: those are the defaults."""

    broker: int
    backend: int
    app: int
    host: str = "127.0.0.1"
    port: int = 6379

    @classmethod
    def of_url(cls, url: str) -> RedisDbs:
        """The server and db of one Redis URL, as all three (the fleet's processes are
        told their URLs by setting, which then override these)."""
        parts = urlsplit(url)
        db = int(parts.path.strip("/") or 0)
        return cls(db, db, db, parts.hostname or "127.0.0.1", parts.port or 6379)

    def url(self, db: int) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys((self.broker, self.backend, self.app)))

    def flush(self) -> None:
        """Delete every key of this fleet's dbs (and only of them)."""
        import redis

        for db in self.numbers:
            client = redis.Redis(host=self.host, port=self.port, db=db, socket_timeout=5)
            try:
                client.flushdb()
            finally:
                client.close()


@dataclass(frozen=True)
class WorkerSpec:
    """One worker: its node name, queues, pool size, env overrides (e.g. a policy), the
    Celery app it runs (another only for baselines, like the benchmark's bare chain), and
    whether it sends heartbeats (Flower's liveness; tests need none)."""

    name: str
    queues: tuple[str, ...] = ALL_QUEUES
    concurrency: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    app: str = CELERY_APP
    heartbeat: bool = False


@dataclass(frozen=True)
class FleetConfig:
    """Everything the fleet's processes are told. ``emulator_url`` None: no base URL
    override, so the Alpaca adapters talk to Alpaca itself (paper, with real keys)."""

    database_url: str
    emulator_url: str | None
    redis: RedisDbs
    log_dir: Path
    api_key: str = "strikeflow"
    secret_key: str = "strikeflow-secret"
    clock: str = "market"
    on_broker_failure: str = "simulate"
    env: Mapping[str, str] = field(default_factory=dict)  # more STRIKEFLOW_ settings

    def settings_env(self) -> dict[str, str]:
        env = {
            "STRIKEFLOW_DATABASE_URL": self.database_url,
            "STRIKEFLOW_BROKER_URL": self.redis.url(self.redis.broker),
            "STRIKEFLOW_RESULT_BACKEND": self.redis.url(self.redis.backend),
            "STRIKEFLOW_REDIS_URL": self.redis.url(self.redis.app),
            "STRIKEFLOW_ALPACA_API_KEY": self.api_key,
            "STRIKEFLOW_ALPACA_SECRET_KEY": self.secret_key,
            "STRIKEFLOW_ALPACA_PAPER": "true",
            "STRIKEFLOW_CLOCK": self.clock,
            "STRIKEFLOW_ON_BROKER_FAILURE": self.on_broker_failure,
        }
        if self.emulator_url is not None:
            env["STRIKEFLOW_ALPACA_BASE_URL"] = self.emulator_url
        return {**env, **self.env}

    def settings(self) -> Settings:
        """The same settings the workers get, for the caller's own clients."""
        prefix = "STRIKEFLOW_"
        values = {k[len(prefix) :].lower(): v for k, v in self.settings_env().items()}
        return Settings(**values)


class WorkerProcess(LoggedProcess):
    """One worker subprocess: its spec, its node name and its log file."""

    def __init__(self, spec: WorkerSpec, node: str, command: list[str], log: Path, env) -> None:
        super().__init__(f"worker {node}", command, log, env)
        self.spec, self.node = spec, node


class Fleet:
    """Celery subprocesses on one broker; ``app`` is a client app on the same broker."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.host = socket.gethostname()
        self.workers: dict[str, WorkerProcess] = {}
        self.beat: LoggedProcess | None = None
        self.flower: LoggedProcess | None = None
        self.flower_url: str | None = None
        self._app: Celery | None = None

    @property
    def app(self) -> Celery:
        """A Celery client on the fleet's broker and result store, built on first use
        (never the current app: the caller's own app is left alone)."""
        if self._app is None:
            app = Celery("strikeflow-fleet", set_as_current=False)
            app.config_from_object(celery_config(self.config.settings()))
            self._app = app
        return self._app

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The caller's environment less its STRIKEFLOW_ settings, plus the fleet's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
        env.update(self.config.settings_env())
        env.update(extra or {})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def env_for(self, spec: WorkerSpec) -> dict[str, str]:
        return self.env(spec.env)

    def command(self, spec: WorkerSpec) -> list[str]:
        quiet = [] if spec.heartbeat else ["--without-heartbeat"]
        return [
            sys.executable, "-m", "celery", "-A", spec.app, "worker",
            "-P", "prefork", "-c", str(spec.concurrency), "-Q", ",".join(spec.queues),
            "-n", f"{spec.name}@{self.host}", "--without-gossip", "--without-mingle",
            *quiet, "-E", "-l", "INFO",
        ]  # fmt: skip

    def start(self, spec: WorkerSpec) -> WorkerProcess:
        """Spawn one worker (not awaited: see ``wait_ready``)."""
        previous = self.workers.get(spec.name)
        if previous is not None and previous.alive():
            raise RuntimeError(f"worker {spec.name} is already running")
        if previous is not None:
            previous.stop()  # a dead one: reap it and close its log
        log = self.config.log_dir / f"worker-{spec.name}.log"
        node = f"{spec.name}@{self.host}"
        worker = WorkerProcess(spec, node, self.command(spec), log, self.env_for(spec))
        self.workers[spec.name] = worker
        return worker

    def start_workers(
        self, specs: Iterable[WorkerSpec], deadline_s: float = START_DEADLINE_S
    ) -> list[WorkerProcess]:
        started = [self.start(spec) for spec in specs]
        self.wait_ready([w.spec.name for w in started], deadline_s)
        return started

    def restart(self, name: str, deadline_s: float = START_DEADLINE_S, **env: str) -> WorkerProcess:
        """Stop worker ``name`` and start it again, with ``env`` over its spec's env."""
        old = self.workers[name]
        old.stop()
        spec = replace(old.spec, env={**old.spec.env, **env})
        worker = self.start(spec)
        self.wait_ready([name], deadline_s)
        return worker

    def wait_ready(self, names: Iterable[str], deadline_s: float = START_DEADLINE_S) -> None:
        """Until every named worker answers a ping; a dead or silent one fails with its log."""
        waiting = {self.workers[n].node: self.workers[n] for n in names}
        end = time.monotonic() + deadline_s
        while waiting:
            dead = [w for w in waiting.values() if not w.alive()]
            if dead:
                raise RuntimeError(self.report(f"worker {dead[0].node} exited", dead))
            if time.monotonic() > end:
                silent = f"no ping from {sorted(waiting)} in {deadline_s} s"
                raise RuntimeError(self.report(silent, waiting.values()))
            replies = self.app.control.ping(destination=list(waiting), timeout=0.5)
            for reply in replies:
                for node in reply:
                    waiting.pop(node, None)

    def start_beat(
        self, env: Mapping[str, str] | None = None, deadline_s: float = START_DEADLINE_S
    ) -> LoggedProcess:
        """``celery beat`` with the app's scheduler, awaited until it says it started. It
        runs in the log directory, where any file a scheduler keeps then lands."""
        if self.beat is not None and self.beat.alive():
            raise RuntimeError("beat is already running")
        log_dir = self.config.log_dir
        command = [
            sys.executable, "-m", "celery", "-A", CELERY_APP, "beat", "-l", "INFO",
            "-s", str(log_dir / "celerybeat-schedule"),
        ]  # fmt: skip
        self.beat = LoggedProcess("beat", command, log_dir / "beat.log", self.env(env), log_dir)
        self.beat.wait_for_log("beat: Starting", deadline_s)
        return self.beat

    def start_flower(
        self,
        port: int,
        basic_auth: str,
        address: str = "127.0.0.1",
        deadline_s: float = START_DEADLINE_S,
    ) -> str:
        """Flower behind basic auth (``user:password``), awaited on its /healthcheck
        (which needs no auth); returns its URL."""
        import requests

        if ":" not in basic_auth:
            raise ValueError("Flower's basic auth is user:password")
        if self.flower is not None and self.flower.alive():
            raise RuntimeError("flower is already running")
        command = [
            sys.executable, "-m", "celery", "-A", CELERY_APP, "flower",
            f"--address={address}", f"--port={port}", f"--basic-auth={basic_auth}",
        ]  # fmt: skip
        log_dir = self.config.log_dir
        self.flower = LoggedProcess("flower", command, log_dir / "flower.log", self.env(), log_dir)
        url = f"http://{address}:{port}"

        def healthy() -> bool:
            try:
                return requests.get(f"{url}/healthcheck", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        self.flower.wait_until(healthy, "/healthcheck", deadline_s)
        self.flower_url = url
        return url

    def processes(self) -> list[LoggedProcess]:
        extras = [p for p in (self.flower, self.beat) if p is not None]
        return [*extras, *self.workers.values()]

    def report(self, headline: str, workers: Iterable[LoggedProcess] | None = None) -> str:
        """``headline`` and the tail of each process's log, for a failure message."""
        chosen = list(self.processes() if workers is None else workers)
        parts = [headline]
        for w in chosen:
            parts.append(f"--- {w.name} (pid {w.pid}, rc {w.process.poll()}) {w.log} ---")
            parts.append(w.tail())
        return "\n".join(parts)

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        """Stop beat and Flower, then every worker (all signalled first, so their
        shutdowns overlap)."""
        for extra in (self.beat, self.flower):
            if extra is not None:
                extra.stop(deadline_s)
        for worker in self.workers.values():
            if worker.alive():
                signal_group(worker.pid, signal.SIGTERM)
        for worker in self.workers.values():
            worker.stop(deadline_s)
        if self._app is not None:
            self._app.close()
            self._app = None

    def forget_broker(self) -> None:
        """Drop the client's connections to a broker that restarted (and kombu's
        process-wide producer pools, which hold the old server's): the next use of
        ``app`` connects anew. The fleet's processes reconnect on their own."""
        import kombu.pools

        if self._app is not None:
            self._app.close()
            self._app = None
        kombu.pools.reset()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
