"""The emulator for a fleet, in this process or its own, and a clock driver that moves
its simulated time (which moves only when told: POST /_sim/clock) at a chosen speed."""

from __future__ import annotations

import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from strikeflow.devfleet.processes import STOP_DEADLINE_S, LoggedProcess
from strikeflow.sim.serve import EmulatorOptions

START_DEADLINE_S = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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
        from strikeflow.sim.serve import EmulatorServer, build_app

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


def emulator_args(options: EmulatorOptions) -> list[str]:
    """``strikeflow emulator`` arguments for ``options`` (everything but host and port)."""
    args = [
        f"--seed={options.seed}", f"--symbols={','.join(options.symbols)}",
        f"--clock={options.clock}", f"--api-key={options.api_key}",
        f"--secret-key={options.secret_key}", f"--fill-delay={options.fill_delay_s}",
        f"--cash={options.cash}", f"--options-level={options.options_approved_level}",
        f"--partial-fill-rate={options.partial_fill_rate}", f"--plan={options.plan}",
        f"--inside-fill-rate={options.inside_fill_rate}",
        f"--inside-fill-exponent={options.inside_fill_exponent}",
        f"--rate-limit-trading={options.rate_limits.trading_limit}",
        f"--rate-limit-data={options.rate_limits.data_limit}",
        f"--rate-limit-window={options.rate_limits.window_s}",
    ]  # fmt: skip
    if options.start is not None:
        args.append(f"--start={options.start.isoformat()}")
    faults = options.faults
    for flag, rate in (
        ("error-5xx", faults.error_5xx),
        ("rate-limit", faults.rate_limit),
        ("drop", faults.drop),
        ("latency", faults.latency),
        ("commit-then-fail", faults.commit_then_fail),
    ):
        if rate:
            args.append(f"--fault-{flag}={rate}")
    if faults.latency_fixed_ms:
        args.append(f"--fault-latency-fixed-ms={faults.latency_fixed_ms}")
    return args


class SubprocessEmulator:
    """``strikeflow emulator`` as its own process (the demo, benchmarks, the local fleet)."""

    def __init__(self, args: list[str], port: int, log: Path, host: str = "127.0.0.1") -> None:
        self.args, self.port, self.host, self.log = args, port, host, log
        self.process: LoggedProcess | None = None

    @classmethod
    def from_options(
        cls, options: EmulatorOptions, port: int, log: Path, host: str = "127.0.0.1"
    ) -> SubprocessEmulator:
        return cls(emulator_args(options), port, log, host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, deadline_s: float = START_DEADLINE_S) -> str:
        import requests

        command = [sys.executable, "-m", "strikeflow", "emulator", "--host", self.host]
        command += ["--port", str(self.port), *self.args]
        self.process = LoggedProcess("emulator", command, self.log)

        def answers() -> bool:
            try:
                requests.get(f"{self.url}/v2/clock", timeout=1)  # 401 is an answer
                return True
            except requests.RequestException:
                return False

        self.process.wait_until(answers, "answer on /v2/clock", deadline_s)
        return self.url

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        if self.process is not None:
            self.process.stop(deadline_s)
            self.process = None

    def __enter__(self) -> SubprocessEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ClockDriver:
    """A daemon thread advancing an emulator's simulated clock by ``speed`` simulated
    seconds per wall second, one POST /_sim/clock every ``tick_s``, until ``stop()`` or
    until the clock reaches ``until``. A failed tick is counted and retried on the next
    (the emulator may be restarting); its time is not lost, the next tick catches up."""

    def __init__(
        self,
        url: str,
        api_key: str,
        secret_key: str,
        speed: float = 60.0,
        tick_s: float = 0.25,
        until: datetime | None = None,
    ) -> None:
        if speed <= 0 or tick_s <= 0:
            raise ValueError(f"speed and tick_s must be > 0, got {speed} and {tick_s}")
        if until is not None and until.tzinfo is None:
            raise ValueError("until must be timezone-aware")
        self.url, self.speed, self.tick_s, self.until = url, speed, tick_s, until
        self._headers = {"APCA-API-KEY-ID": api_key, "APCA-API-SECRET-KEY": secret_key}
        self.now: datetime | None = None  # the emulator's clock after the last tick
        self.failures = 0
        self.last_error: str | None = None
        self.reached = threading.Event()  # set once the clock is at or past ``until``
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ClockDriver:
        if self._thread is not None:
            raise RuntimeError("the clock driver is already running")
        self._thread = threading.Thread(target=self._run, name="sim-clock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_DEADLINE_S)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        import requests

        session = requests.Session()
        session.headers.update(self._headers)
        owed = 0.0  # simulated seconds not yet sent (a failed tick's, or the first one's)
        last = time.monotonic()
        try:
            while not self._stop.wait(self.tick_s):  # pacing, not synchronisation
                tick = time.monotonic()
                owed, last = owed + (tick - last) * self.speed, tick
                try:
                    reply = session.post(
                        f"{self.url}/_sim/clock", json={"seconds": owed}, timeout=5
                    )
                    reply.raise_for_status()
                except requests.RequestException as failed:
                    self.failures += 1
                    self.last_error = str(failed)
                    continue
                owed = 0.0
                self.now = datetime.fromisoformat(reply.json()["timestamp"])
                if self.until is not None and self.now >= self.until:
                    self.reached.set()
                    return
        finally:
            session.close()

    def __enter__(self) -> ClockDriver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
