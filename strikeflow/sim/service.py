"""Assemble an emulator from options: market, venue, clock, faults, HTTP app, server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI

from strikeflow.sim.app import create_app
from strikeflow.sim.calendar import SimClock, next_close
from strikeflow.sim.faults import FaultConfig, Faults
from strikeflow.sim.http_common import Emulator
from strikeflow.sim.market import Market
from strikeflow.sim.server import EmulatorServer
from strikeflow.sim.venue import Venue

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY", "QQQ")


@dataclass(frozen=True)
class EmulatorOptions:
    """How to run one emulator. ``start`` is where simulated time begins."""

    seed: int = 42
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    clock: str = "sim"
    start: datetime | None = None
    api_key: str = "strikeflow"
    secret_key: str = "strikeflow-secret"
    cash: float = 100_000
    options_approved_level: int = 2
    fill_delay_s: float = 1.0
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if self.clock not in ("sim", "real"):
            raise ValueError(f"clock must be 'sim' or 'real', got {self.clock!r}")
        if not self.api_key or not self.secret_key:
            raise ValueError("the emulator needs an API key and a secret key")


def build_app(options: EmulatorOptions) -> FastAPI:
    start = options.start or datetime.now(UTC)
    clock = SimClock(mode=options.clock, start=start)
    market = Market(options.seed, list(options.symbols), start)
    venue = Venue(
        market,
        cash=options.cash,
        options_approved_level=options.options_approved_level,
        fill_delay_s=options.fill_delay_s,
        clock=clock.now,
        session_close=next_close,
    )
    sim = Emulator(
        market=market,
        venue=venue,
        clock=clock,
        faults=Faults(options.faults, seed=options.seed),
        api_key=options.api_key,
        secret_key=options.secret_key,
    )
    return create_app(sim)


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


@contextmanager
def running_emulator(
    options: EmulatorOptions, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """The emulator serving in this process; yields its base URL."""
    with EmulatorServer(build_app(options), host=host, port=port) as server:
        yield server.url
