"""``strikeflow fleet up | down | status``: a whole local fleet (the emulator in simulated
time, the workers, beat, optionally Flower) as background processes on this host."""

from __future__ import annotations

import argparse
import sys


def add_fleet_command(commands: argparse._SubParsersAction) -> None:
    fleet = commands.add_parser("fleet", help="a local fleet of background processes")
    fleet.add_argument("action", choices=("up", "down", "status"))
    fleet.set_defaults(run=run_fleet)


def run_fleet(args: argparse.Namespace) -> int:
    print(f"strikeflow fleet {args.action}: not available yet", file=sys.stderr)
    return 2
