"""Build an emulator from its options and serve it with uvicorn.

``EmulatorOptions`` says how to run one emulator; ``build_app`` assembles its market,
venue, clock and faults behind the HTTP app (``http_app``). ``serve`` runs it in the
foreground (``strikeflow emulator``); ``EmulatorServer`` and ``running_emulator`` run it
on a background thread of this process, on an ephemeral port (tests, the demo, fleets).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

import uvicorn
from fastapi import FastAPI

from strikeflow.sim.calendar import SimClock, next_close, trading_from
from strikeflow.sim.data_plan import PLANS, DataPlan
from strikeflow.sim.faults import FaultConfig, Faults
from strikeflow.sim.http_app import create_app
from strikeflow.sim.http_common import Emulator
from strikeflow.sim.market import Market
from strikeflow.sim.market_model import MarketModel
from strikeflow.sim.rate_limits import RateLimitConfig
from strikeflow.sim.venue import DEFAULT_PARTIAL_FILL_RATE, Venue
from strikeflow.sim.venue_fills import (
    DEFAULT_INSIDE_FILL_EXPONENT,
    DEFAULT_INSIDE_FILL_RATE,
    InsideFills,
)

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY", "QQQ")
STARTUP_DEADLINE_S = 15.0


@dataclass(frozen=True)
class EmulatorOptions:
    """How to run one emulator. ``start`` is where simulated time begins; ``plan`` is the
    market data plan it enforces (``data_plan``: ``basic`` refuses recent SIP and OPRA);
    ``partial_fill_rate`` the share of fills that take only part of an order (seeded);
    ``inside_fill_rate`` and ``inside_fill_exponent`` how soon an option limit resting
    inside the spread fills (``venue_fills.InsideFills``; a rate of 0: never, until the
    quote crosses it);
    ``rate_limits`` the calls per key and window it answers before a 429 (none by
    default: ``RateLimitConfig()`` is Alpaca's 200 a minute); ``data_dir`` a store of
    recorded data (``recorded_store``) to replay instead of the seeded market: its
    symbols are served, and ``symbols`` and ``seed`` no longer shape prices."""

    seed: int = 42
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    clock: str = "sim"
    start: datetime | None = None
    api_key: str = "strikeflow"
    secret_key: str = "strikeflow-secret"
    cash: float = 100_000
    options_approved_level: int = 2
    fill_delay_s: float = 1.0
    partial_fill_rate: float = DEFAULT_PARTIAL_FILL_RATE
    inside_fill_rate: float = DEFAULT_INSIDE_FILL_RATE
    inside_fill_exponent: float = DEFAULT_INSIDE_FILL_EXPONENT
    faults: FaultConfig = field(default_factory=FaultConfig)
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig.unlimited)
    plan: Literal["basic", "unlimited"] = "unlimited"
    data_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.plan not in PLANS:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}, got {self.plan!r}")
        if self.clock not in ("sim", "real"):
            raise ValueError(f"clock must be 'sim' or 'real', got {self.clock!r}")
        if not 0 <= self.partial_fill_rate <= 1:
            raise ValueError(f"partial_fill_rate must be within 0..1, got {self.partial_fill_rate}")
        self.inside_fills()  # refuses a rate or an exponent out of range
        if not self.api_key or not self.secret_key:
            raise ValueError("the emulator needs an API key and a secret key")

    def inside_fills(self) -> InsideFills:
        return InsideFills(self.inside_fill_rate, self.inside_fill_exponent)


def build_app(options: EmulatorOptions) -> FastAPI:
    start = options.start or datetime.now(UTC)
    clock = SimClock(mode=options.clock, start=start)
    market: MarketModel
    if options.data_dir is not None:
        # Loaded only for a replay: it brings pyarrow, which the seeded market never needs.
        from strikeflow.sim.recorded_market import RecordedMarket

        market = RecordedMarket.open(options.data_dir)
    else:
        market = Market(options.seed, list(options.symbols), start)
    venue = Venue(
        market,
        cash=options.cash,
        options_approved_level=options.options_approved_level,
        fill_delay_s=options.fill_delay_s,
        clock=clock.now,
        session_close=next_close,
        tradable_from=trading_from,
        partial_fill_rate=options.partial_fill_rate,
        inside_fills=options.inside_fills(),
        seed=options.seed,
    )
    sim = Emulator(
        market=market,
        venue=venue,
        clock=clock,
        faults=Faults(options.faults, seed=options.seed),
        api_key=options.api_key,
        secret_key=options.secret_key,
    )
    app = create_app(sim, options.rate_limits)
    app.state.plan = DataPlan(options.plan)
    return app


def serve(
    options: EmulatorOptions,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    sock: socket.socket | None = None,
) -> None:
    """Serve in the foreground until interrupted (``strikeflow emulator``), on ``sock``
    when given: a socket the caller bound, whose port it already knows."""
    config = uvicorn.Config(
        build_app(options), host=host, port=port, log_level="info", access_log=False
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


class EmulatorServer:
    """A uvicorn server in a background thread; ``url`` is known once ``start`` returns."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="emulator", daemon=True)
        self.url = ""

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start (is the port free?)")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_DEADLINE_S)

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def running_emulator(
    options: EmulatorOptions, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """The emulator serving in this process; yields its base URL."""
    with EmulatorServer(build_app(options), host=host, port=port) as server:
        yield server.url
