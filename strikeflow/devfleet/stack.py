"""The whole fleet of docker-compose.yml as local processes (``strikeflow fleet``,
``scripts/fleet``, the e2e tests): migrate, the emulator, the five workers (one per
queue), beat, Flower, and in simulated time a clock driver; plus a redis-server of one's
own for isolated runs.

    stack = LocalStack(StackConfig(fleet=FleetConfig(url, None, dbs, logs), emulator=opts))
    with stack:               # up(): migrate, emulator, workers, beat, Flower, clock
        stack.clock.reached.wait()
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from types import TracebackType

from strikeflow.devfleet.emulator import ClockDriver, SubprocessEmulator, free_port
from strikeflow.devfleet.processes import POLL_S, LoggedProcess
from strikeflow.devfleet.workers import START_DEADLINE_S, Fleet, FleetConfig, WorkerSpec
from strikeflow.sim.serve import EmulatorOptions

# The compose file's worker services, one per queue (tests/e2e/test_compose.py checks
# that both agree). Heartbeats on: Flower tells the live workers by them.
STACK_WORKERS: tuple[WorkerSpec, ...] = (
    WorkerSpec("marketdata", ("marketdata",), concurrency=2, heartbeat=True),
    WorkerSpec("dispatch", ("dispatch",), concurrency=2, heartbeat=True),
    WorkerSpec("orders", ("orders",), concurrency=1, heartbeat=True),
    WorkerSpec("persistence", ("persistence",), concurrency=2, heartbeat=True),
    WorkerSpec("signals", ("signals",), concurrency=1, heartbeat=True),
)


@dataclass(frozen=True)
class StackConfig:
    """What to start. ``emulator`` None: no emulator (Alpaca paper, or one already
    running at ``fleet.emulator_url``). ``speed`` None: nobody moves simulated time."""

    fleet: FleetConfig
    emulator: EmulatorOptions | None = None
    emulator_port: int = 0  # 0: a free one
    speed: float | None = 60.0  # simulated seconds per wall second (sim clock only)
    workers: tuple[WorkerSpec, ...] = STACK_WORKERS
    beat: bool = True
    flower_port: int | None = 5555  # None: no Flower
    flower_auth: str = "admin:change-me"
    migrate: bool = True
    beat_env: dict[str, str] = field(default_factory=dict)


class LocalStack:
    """Starts the processes in the compose file's order and stops them in reverse."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.emulator: SubprocessEmulator | None = None
        self.clock: ClockDriver | None = None
        fleet_config = config.fleet
        if config.emulator is not None:
            options = replace(
                config.emulator, api_key=fleet_config.api_key, secret_key=fleet_config.secret_key
            )
            port = config.emulator_port or free_port()
            log = fleet_config.log_dir / "emulator.log"
            self.emulator = SubprocessEmulator.from_options(options, port, log)
            fleet_config = replace(fleet_config, emulator_url=self.emulator.url)
        self.fleet = Fleet(fleet_config)

    def up(self, deadline_s: float = START_DEADLINE_S) -> LocalStack:
        try:
            self._up(deadline_s)
        except BaseException:
            self.down()
            raise
        return self

    def _up(self, deadline_s: float) -> None:
        config = self.config
        if config.migrate:
            self.migrate(deadline_s)
        if self.emulator is not None:
            self.emulator.start(deadline_s)
        self.fleet.start_workers(config.workers, deadline_s)
        if config.flower_port is not None:
            self.fleet.start_flower(config.flower_port, config.flower_auth, deadline_s=deadline_s)
        if self.emulator is not None and config.emulator.clock == "sim" and config.speed:
            fleet = self.fleet.config
            self.clock = ClockDriver(
                self.emulator.url, fleet.api_key, fleet.secret_key, speed=config.speed
            ).start()
        if config.beat:
            self.fleet.start_beat(config.beat_env, deadline_s)

    def migrate(self, deadline_s: float = START_DEADLINE_S) -> None:
        """``strikeflow db upgrade`` once, as the compose file's migrate service."""
        log = self.fleet.config.log_dir / "migrate.log"
        command = [sys.executable, "-m", "strikeflow", "db", "upgrade"]
        process = LoggedProcess("migrate", command, log, self.fleet.env())
        end = time.monotonic() + deadline_s
        while process.alive():
            if time.monotonic() > end:
                process.stop()
                raise RuntimeError(process.report(f"migrate took over {deadline_s} s"))
            time.sleep(POLL_S)
        if process.stop() != 0:
            raise RuntimeError(process.report("migrate failed"))

    def processes(self) -> list[LoggedProcess]:
        emulator = [self.emulator.process] if self.emulator and self.emulator.process else []
        return [*self.fleet.processes(), *emulator]

    def report(self, headline: str) -> str:
        return self.fleet.report(headline, self.processes())

    def down(self) -> None:
        """Beat first (no new work), then Flower and the workers (Fleet.stop keeps that
        order), the clock, the emulator."""
        self.fleet.stop()
        if self.clock is not None:
            self.clock.stop()
        if self.emulator is not None:
            self.emulator.stop()

    def __enter__(self) -> LocalStack:
        return self.up()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.down()
