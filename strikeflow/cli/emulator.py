"""``strikeflow emulator``: serve the Alpaca-compatible market emulator that alpaca-py
reaches through ``url_override``, so the whole pipeline runs offline on the real code path;
``strikeflow emulator clock ...`` reads and moves a running one's simulated clock.

The serve arguments are checked before anything binds: a port outside 0-65535 or a
symbol the market cannot simulate is a usage error (exit 2) that names it. With
``--port 0`` the port announced is the one actually bound.
"""

from __future__ import annotations

import argparse
import socket
import sys
from datetime import datetime
from pathlib import Path

from strikeflow.cli.arguments import aware_instant
from strikeflow.cli.emulator_clock import add_clock_command


def add_emulator_command(commands: argparse._SubParsersAction) -> None:
    emu = commands.add_parser(
        "emulator", help="serve the Alpaca-compatible market emulator (alpaca-py: url_override)"
    )
    emu.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    emu.add_argument(
        "--port", type=port_number, default=8765, help="port, 0 for a free one (default 8765)"
    )
    emu.add_argument("--seed", type=int, default=42, help="market seed (default 42)")
    emu.add_argument(
        "--symbols",
        type=symbol_list,
        default="AAPL,MSFT,NVDA,TSLA,SPY,QQQ",
        help="underlyings, comma separated (1-5 letters each)",
    )
    emu.add_argument("--clock", choices=("real", "sim"), default="sim", help="time source")
    emu.add_argument(
        "--start",
        type=aware_instant,
        default=None,
        help="where simulated time starts, ISO 8601 with offset (default: now)",
    )
    emu.add_argument("--api-key", default="strikeflow", help="APCA-API-KEY-ID to accept")
    emu.add_argument("--secret-key", default="strikeflow-secret", help="APCA-API-SECRET-KEY")
    emu.add_argument("--fill-delay", type=float, default=1.0, help="seconds before a fill")
    emu.add_argument(
        "--partial-fill-rate",
        type=rate,
        default=0.1,
        help="share of fills that take only part of an order, 0 to 1 (default 0.1, seeded)",
    )
    emu.add_argument(
        "--inside-fill-rate",
        type=rate,
        default=0.2,
        help="chance a second that an option limit resting inside the spread fills once it"
        " reaches the far side, 0 to 1 (default 0.2, seeded; 0: only when the quote crosses)",
    )
    emu.add_argument(
        "--inside-fill-exponent",
        type=exponent,
        default=2.0,
        help="how steeply that chance falls toward the near side: rate x fraction^exponent"
        " (default 2: a limit at the mid fills in about 20 s on average)",
    )
    emu.add_argument("--cash", type=float, default=100_000, help="starting cash (default 100000)")
    emu.add_argument(
        "--options-level", type=int, default=2, help="options_approved_level (default 2)"
    )
    emu.add_argument(
        "--plan",
        choices=("basic", "unlimited"),
        default="unlimited",
        help="market data plan: basic refuses recent SIP data and OPRA, as Alpaca's free"
        " plan does (default unlimited)",
    )
    emu.add_argument(
        "--rate-limit-trading",
        type=calls,
        default=0,
        help="trading calls per key a window before a 429, as Alpaca's 200 a minute"
        " (default 0: no limit)",
    )
    emu.add_argument(
        "--rate-limit-data",
        type=calls,
        default=0,
        help="market data calls per key a window before a 429 (default 0: no limit)",
    )
    emu.add_argument(
        "--rate-limit-window",
        type=float,
        default=60.0,
        help="the rate limits' window in seconds of wall time (default 60)",
    )
    for name, what in (
        ("error-5xx", "500/503/504"),
        ("rate-limit", "429"),
        ("drop", "dropped connections"),
        ("latency", "added latency"),
        ("commit-then-fail", "orders accepted then failed"),
    ):
        emu.add_argument(f"--fault-{name}", type=float, default=0.0, help=f"probability of {what}")
    emu.add_argument(
        "--fault-latency-fixed-ms",
        type=float,
        default=0.0,
        help="milliseconds added to every request (default 0)",
    )
    emu.add_argument(
        "--data",
        type=Path,
        default=None,
        help="replay a store of recorded data (strikeflow data fetch; docs/emulator.md) instead of"
        " the seeded market; the clock starts at its first open unless --start says otherwise",
    )
    emu.set_defaults(run=run_emulator)
    add_clock_command(emu.add_subparsers(dest="emulator_action", metavar="[clock]"))


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port in 0-65535 (0: a free one), got {text!r}")
    return port


def rate(text: str) -> float:
    """A probability: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a number from 0 to 1, got {text!r}")
    return value


def exponent(text: str) -> float:
    """The inside-spread fill model's exponent: a number above 0, at most 10."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 10:
        raise argparse.ArgumentTypeError(f"a number above 0 and at most 10, got {text!r}")
    return value


def calls(text: str) -> int:
    """A number of calls: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a whole number of calls, 0 or more, got {text!r}")
    return value


def symbol_list(text: str) -> tuple[str, ...]:
    """Comma-separated tickers, upper-cased; each 1-5 letters, as the market simulates."""
    from strikeflow.sim.market import TICKER

    symbols = tuple(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    bad = [s for s in symbols if not TICKER.fullmatch(s)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a ticker (1-5 letters): {bad[0]!r}")
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one ticker, e.g. SPY,AAPL")
    return symbols


def run_emulator(args: argparse.Namespace) -> int:
    from strikeflow.sim.faults import FaultConfig
    from strikeflow.sim.rate_limits import RateLimitConfig
    from strikeflow.sim.serve import EmulatorOptions, serve

    try:
        start = args.start
        if args.data is not None:  # a malformed store is a ValueError: exit 2 below
            start = start or recorded_start(args.data)
        options = EmulatorOptions(
            seed=args.seed,
            symbols=args.symbols,
            clock=args.clock,
            start=start,
            data_dir=args.data,
            api_key=args.api_key,
            secret_key=args.secret_key,
            fill_delay_s=args.fill_delay,
            partial_fill_rate=args.partial_fill_rate,
            inside_fill_rate=args.inside_fill_rate,
            inside_fill_exponent=args.inside_fill_exponent,
            cash=args.cash,
            options_approved_level=args.options_level,
            plan=args.plan,
            rate_limits=RateLimitConfig(
                args.rate_limit_trading, args.rate_limit_data, args.rate_limit_window
            ),
            faults=FaultConfig(
                error_5xx=args.fault_error_5xx,
                rate_limit=args.fault_rate_limit,
                drop=args.fault_drop,
                latency=args.fault_latency,
                latency_fixed_ms=args.fault_latency_fixed_ms,
                commit_then_fail=args.fault_commit_then_fail,
            ),
        )
    except ValueError as bad:
        print(f"strikeflow emulator: {bad}", file=sys.stderr)
        return 2
    try:
        sock = bound_socket(args.host, args.port)
    except OSError as refused:
        why = refused.strerror or refused
        print(
            f"strikeflow emulator: cannot listen on {args.host}:{args.port}: {why}", file=sys.stderr
        )
        return 1
    host, port = sock.getsockname()[:2]
    where = f"http://{host}:{port}"
    print(
        f"strikeflow emulator on {where}"
        f" ({f'replaying {args.data}' if args.data else f'seed {args.seed}'}, {args.clock} clock,"
        f" {args.plan} data plan)",
        flush=True,
    )
    serve(options, sock=sock)
    return 0


def recorded_start(data: Path) -> datetime:
    """The first open of a store's window (its store read once, and kept for the app)."""
    from strikeflow.sim import calendar
    from strikeflow.sim.recorded_market import RecordedMarket

    manifest = RecordedMarket.open(data).store.manifest
    days = calendar.trading_days(manifest.start, manifest.end)
    if not days:
        raise ValueError(f"{data}: no trading day from {manifest.start} to {manifest.end}")
    return calendar.session(days[0])[0]


def bound_socket(host: str, port: int) -> socket.socket:
    """Bound before the announcement, so the port announced is the port served (the free
    one the system picked, for 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
