"""A local fleet for tests, the demo, benchmarks and chaos runs: the emulator plus real
Celery worker subprocesses, all on the caller's Redis db numbers and database.

    dbs = RedisDbs(broker=8, backend=9, app=10)
    with InProcessEmulator(EmulatorOptions(...)) as emu, Fleet(
        FleetConfig(database_url=url, emulator_url=emu.url, redis=dbs, log_dir=tmp)
    ) as fleet:
        fleet.start_workers([WorkerSpec("pipeline", ("marketdata", "dispatch", "persistence"))])
        fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})

Workers run ``python -m celery -A strikeflow.workers.app worker -P prefork ...`` in their
own session (so a stop reaches their pool children), with every STRIKEFLOW_ setting given
explicitly (nothing inherited from the caller's environment), log to one file each, and
are awaited with ``app.control.ping(destination=...)``. Stopping is SIGTERM (warm
shutdown), then SIGKILL of the whole process group after a deadline. Importing this
module connects to nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from celery import Celery

from strikeflow.config import Settings
from strikeflow.sim.service import EmulatorOptions
from strikeflow.workers.config import QUEUES, celery_config

ALL_QUEUES: tuple[str, ...] = tuple(QUEUES)
START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 15.0
LOG_TAIL_CHARS = 4_000


@dataclass(frozen=True)
class RedisDbs:
    """The db numbers a fleet owns on one Redis: Celery's broker and results, and the
    app's own keys (the kill switch). Never 0, 1 or 2 in tests: those are the defaults."""

    broker: int
    backend: int
    app: int
    host: str = "127.0.0.1"
    port: int = 6379

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
    """One worker: its node name, queues, pool size, env overrides (e.g. a policy), and
    the Celery app it runs (another only for baselines, like the benchmark's bare chain)."""

    name: str
    queues: tuple[str, ...] = ALL_QUEUES
    concurrency: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    app: str = "strikeflow.workers.app"


@dataclass(frozen=True)
class FleetConfig:
    database_url: str
    emulator_url: str
    redis: RedisDbs
    log_dir: Path
    api_key: str = "strikeflow"
    secret_key: str = "strikeflow-secret"
    clock: str = "market"
    on_broker_failure: str = "simulate"
    env: Mapping[str, str] = field(default_factory=dict)  # more STRIKEFLOW_ settings

    def settings_env(self) -> dict[str, str]:
        return {
            "STRIKEFLOW_DATABASE_URL": self.database_url,
            "STRIKEFLOW_BROKER_URL": self.redis.url(self.redis.broker),
            "STRIKEFLOW_RESULT_BACKEND": self.redis.url(self.redis.backend),
            "STRIKEFLOW_REDIS_URL": self.redis.url(self.redis.app),
            "STRIKEFLOW_ALPACA_API_KEY": self.api_key,
            "STRIKEFLOW_ALPACA_SECRET_KEY": self.secret_key,
            "STRIKEFLOW_ALPACA_BASE_URL": self.emulator_url,
            "STRIKEFLOW_ALPACA_PAPER": "true",
            "STRIKEFLOW_CLOCK": self.clock,
            "STRIKEFLOW_ON_BROKER_FAILURE": self.on_broker_failure,
            **self.env,
        }

    def settings(self) -> Settings:
        """The same settings the workers get, for the caller's own clients."""
        prefix = "STRIKEFLOW_"
        values = {k[len(prefix) :].lower(): v for k, v in self.settings_env().items()}
        return Settings(**values)


class WorkerProcess:
    """One worker subprocess and its log file."""

    def __init__(self, spec: WorkerSpec, node: str, process: subprocess.Popen, log: Path) -> None:
        self.spec, self.node, self.process, self.log = spec, node, process, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int:
        """SIGTERM (Celery's warm shutdown), then SIGKILL to its process group."""
        if self.alive():
            _signal_group(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=deadline_s)
        _signal_group(self.pid, signal.SIGKILL)  # stray pool children, if any
        if self.alive():
            self.process.wait(timeout=deadline_s)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once (a crash, for chaos runs)."""
        _signal_group(self.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_DEADLINE_S)

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the worker leads its own session: pgid == pid


class Fleet:
    """Worker subprocesses on one broker; ``app`` is a client app on the same broker."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.host = socket.gethostname()
        self.workers: dict[str, WorkerProcess] = {}
        self._app: Celery | None = None
        self._logs: list[IO[bytes]] = []

    @property
    def app(self) -> Celery:
        """A Celery client on the fleet's broker and result store, built on first use
        (never the current app: the caller's own app is left alone)."""
        if self._app is None:
            app = Celery("strikeflow-fleet", set_as_current=False)
            app.config_from_object(celery_config(self.config.settings()))
            self._app = app
        return self._app

    def env_for(self, spec: WorkerSpec) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
        env.update(self.config.settings_env())
        env.update(spec.env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def command(self, spec: WorkerSpec) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", spec.app, "worker",
            "-P", "prefork", "-c", str(spec.concurrency), "-Q", ",".join(spec.queues),
            "-n", f"{spec.name}@{self.host}", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-E", "-l", "INFO",
        ]  # fmt: skip

    def start(self, spec: WorkerSpec) -> WorkerProcess:
        """Spawn one worker (not awaited: see ``wait_ready``)."""
        if spec.name in self.workers and self.workers[spec.name].alive():
            raise RuntimeError(f"worker {spec.name} is already running")
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.config.log_dir / f"worker-{spec.name}.log"
        handle = log.open("ab")
        self._logs.append(handle)
        process = subprocess.Popen(
            self.command(spec),
            env=self.env_for(spec),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        worker = WorkerProcess(spec, f"{spec.name}@{self.host}", process, log)
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

    def report(self, headline: str, workers: Iterable[WorkerProcess] | None = None) -> str:
        """``headline`` and the tail of each worker's log, for a failure message."""
        chosen = list(self.workers.values() if workers is None else workers)
        parts = [headline]
        for w in chosen:
            parts.append(f"--- {w.node} (pid {w.pid}, rc {w.process.poll()}) {w.log} ---")
            parts.append(w.tail())
        return "\n".join(parts)

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        """Stop every worker (all signalled first, so their shutdowns overlap)."""
        for worker in self.workers.values():
            if worker.alive():
                _signal_group(worker.pid, signal.SIGTERM)
        for worker in self.workers.values():
            worker.stop(deadline_s)
        for handle in self._logs:
            handle.close()
        self._logs.clear()
        if self._app is not None:
            self._app.close()
            self._app = None

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


class InProcessEmulator:
    """The emulator in this process on a fixed port, so it can be replaced (new options,
    a fresh venue) or stopped (the venue is down) while workers keep its URL."""

    def __init__(self, options: EmulatorOptions, host: str = "127.0.0.1", port: int = 0) -> None:
        self.options, self.host, self.port = options, host, port
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, options: EmulatorOptions | None = None) -> str:
        from strikeflow.sim.server import EmulatorServer
        from strikeflow.sim.service import build_app

        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self.options = options or self.options
        server = EmulatorServer(build_app(self.options), host=self.host, port=self.port)
        server.start()
        self._server = server
        self.port = int(server.url.rsplit(":", 1)[1])
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def restart(self, options: EmulatorOptions | None = None) -> str:
        """A fresh emulator (clock, book, audit) on the same port."""
        self.stop()
        return self.start(options)

    def __enter__(self) -> InProcessEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SubprocessEmulator:
    """``strikeflow emulator`` as its own process (how the demo and chaos runs use it)."""

    def __init__(self, args: list[str], port: int, log: Path, host: str = "127.0.0.1") -> None:
        self.args, self.port, self.host, self.log = args, port, host, log
        self.process: subprocess.Popen | None = None
        self._handle: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, deadline_s: float = START_DEADLINE_S) -> str:
        import requests

        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.log.open("ab")
        command = [sys.executable, "-m", "strikeflow", "emulator", "--host", self.host]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), *self.args],
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        end = time.monotonic() + deadline_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited: {self.log.read_text()[-LOG_TAIL_CHARS:]}")
            try:
                requests.get(f"{self.url}/v2/clock", timeout=1)
                return self.url
            except requests.RequestException:
                if time.monotonic() > end:
                    raise RuntimeError(f"the emulator did not answer in {deadline_s} s") from None
                time.sleep(0.05)

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=deadline_s)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=deadline_s)
            self.process = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> SubprocessEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


__all__ = [
    "ALL_QUEUES",
    "Fleet",
    "FleetConfig",
    "InProcessEmulator",
    "RedisDbs",
    "SubprocessEmulator",
    "WorkerProcess",
    "WorkerSpec",
    "free_port",
]
