"""``strikeflow emulator``: serve the Alpaca-compatible market emulator that alpaca-py
reaches through ``url_override``, so the whole pipeline runs offline on the real code path."""

from __future__ import annotations

import argparse
import sys

from strikeflow.cli.arguments import aware_instant


def add_emulator_command(commands: argparse._SubParsersAction) -> None:
    emu = commands.add_parser(
        "emulator", help="serve the Alpaca-compatible market emulator (alpaca-py: url_override)"
    )
    emu.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    emu.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    emu.add_argument("--seed", type=int, default=42, help="market seed (default 42)")
    emu.add_argument(
        "--symbols", default="AAPL,MSFT,NVDA,TSLA,SPY,QQQ", help="underlyings, comma separated"
    )
    emu.add_argument("--clock", choices=("real", "sim"), default="sim", help="time source")
    emu.add_argument(
        "--start", type=aware_instant, default=None, help="sim clock start, ISO 8601 with offset"
    )
    emu.add_argument("--api-key", default="strikeflow", help="APCA-API-KEY-ID to accept")
    emu.add_argument("--secret-key", default="strikeflow-secret", help="APCA-API-SECRET-KEY")
    emu.add_argument("--fill-delay", type=float, default=1.0, help="seconds before a fill")
    emu.add_argument("--cash", type=float, default=100_000, help="starting cash (default 100000)")
    emu.add_argument(
        "--options-level", type=int, default=2, help="options_approved_level (default 2)"
    )
    for name, what in (
        ("error-5xx", "500/503/504"),
        ("rate-limit", "429"),
        ("drop", "dropped connections"),
        ("latency", "added latency"),
        ("commit-then-fail", "orders accepted then failed"),
    ):
        emu.add_argument(f"--fault-{name}", type=float, default=0.0, help=f"probability of {what}")
    emu.set_defaults(run=run_emulator)


def run_emulator(args: argparse.Namespace) -> int:
    from strikeflow.sim.faults import FaultConfig
    from strikeflow.sim.service import EmulatorOptions, serve

    try:
        options = EmulatorOptions(
            seed=args.seed,
            symbols=tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
            clock=args.clock,
            start=args.start,
            api_key=args.api_key,
            secret_key=args.secret_key,
            fill_delay_s=args.fill_delay,
            cash=args.cash,
            options_approved_level=args.options_level,
            faults=FaultConfig(
                error_5xx=args.fault_error_5xx,
                rate_limit=args.fault_rate_limit,
                drop=args.fault_drop,
                latency=args.fault_latency,
                commit_then_fail=args.fault_commit_then_fail,
            ),
        )
    except ValueError as bad:
        print(f"strikeflow emulator: {bad}", file=sys.stderr)
        return 2
    where = f"http://{args.host}:{args.port}"
    print(f"strikeflow emulator on {where} (seed {args.seed}, {args.clock} clock)")
    serve(options, args.host, args.port)
    return 0
