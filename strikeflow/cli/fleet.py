"""``strikeflow fleet up | down | status``: a whole local fleet (the emulator in simulated
time, the five workers, beat, optionally Flower) as background processes on this host.

``up`` migrates the database, starts every process of devfleet's LocalStack (the compose
file's services, in its order), waits until each one answers, records them in ``--dir``
and writes there the settings a shell needs to reach them (``. DIR/env``). It reads the
database and Redis from the same STRIKEFLOW_ settings every other command reads; any
other STRIKEFLOW_ setting in the environment is passed on to the processes.

Simulated time starts at the next open (09:30 New York on the next trading day after
now, or ``--start``) and moves only when told (``strikeflow emulator clock advance``), so
a walk by hand sees exactly the market it moved to; beat scans each simulated minute the
clock lands on and records fills every second.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from strikeflow.cli.arguments import aware_instant
from strikeflow.cli.emulator import port_number

DEFAULT_DIR = Path(".strikeflow-fleet")
ENV_FILE = "env"
STOP_DEADLINE_S = 30.0
START_DEADLINE_S = 120.0
# Set by the fleet itself; every other STRIKEFLOW_ variable in the environment is passed on.
OWN_SETTINGS = frozenset(
    f"STRIKEFLOW_{name}"
    for name in (
        "DATABASE_URL", "BROKER_URL", "RESULT_BACKEND", "REDIS_URL", "ALPACA_BASE_URL",
        "ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_PAPER", "CLOCK",
    )
)  # fmt: skip
# Defaults for a clock moved by hand, unless the environment says otherwise: a scan of
# whatever simulated minute the clock stands at (its claim makes repeats no-ops), and
# fills recorded about a second after the venue made them.
FLEET_DEFAULTS = {"STRIKEFLOW_SCAN_EVERY_S": "2", "STRIKEFLOW_RECONCILE_EVERY_S": "1"}


def add_fleet_command(commands: argparse._SubParsersAction) -> None:
    fleet = commands.add_parser(
        "fleet",
        help="a local fleet (emulator, workers, beat, Flower) as background processes",
        description=__doc__.split("\n\n")[1],
    )
    fleet.add_argument("action", choices=("up", "down", "status"))
    fleet.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"state, logs and env file ({DEFAULT_DIR})"
    )
    fleet.add_argument(
        "--start", type=aware_instant, help="simulated start, ISO 8601 with offset (next open)"
    )
    fleet.add_argument("--seed", type=int, default=42, help="the emulator's market seed (42)")
    fleet.add_argument(
        "--emulator-port", type=port_number, default=0, help="the emulator's port (0: a free one)"
    )
    fleet.add_argument("--flower", action="store_true", help="start Flower too")
    fleet.add_argument("--flower-port", type=port_number, default=5555, help="(5555)")
    fleet.add_argument(
        "--flower-auth",
        default=os.environ.get("FLOWER_BASIC_AUTH", "admin:change-me"),
        help="user:password (FLOWER_BASIC_AUTH, else admin:change-me)",
    )
    fleet.set_defaults(run=run_fleet, usage_error=fleet.error)


def run_fleet(args: argparse.Namespace) -> int:
    if args.flower and ":" not in args.flower_auth:
        args.usage_error("--flower-auth must be user:password")
    action = {"up": fleet_up, "down": fleet_down, "status": fleet_status}[args.action]
    return action(args)


def fleet_up(args: argparse.Namespace) -> int:
    from strikeflow.config import Settings
    from strikeflow.devfleet.background import FleetState

    directory = args.dir.resolve()
    state = FleetState.load(directory)
    if state is not None and state.alive():
        pids = ", ".join(str(p.pid) for p in state.alive())
        print(
            f"strikeflow fleet: a fleet is already up in {args.dir} (pids {pids});"
            " strikeflow fleet down first",
            file=sys.stderr,
        )
        return 1
    settings = Settings()  # a setting that does not validate: the command's exit 2
    if settings.database_url.startswith("sqlite"):
        print(
            "strikeflow fleet: its processes share one database: set STRIKEFLOW_DATABASE_URL"
            " to PostgreSQL (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/strikeflow)",
            file=sys.stderr,
        )
        return 1
    start = args.start or next_open_after(datetime.now(UTC))
    keep_out_of_git(directory)
    stack = build_stack(args, settings, directory, start)
    print(f"strikeflow fleet: starting in {args.dir} (logs in {args.dir / 'logs'})", flush=True)
    try:
        stack.up(START_DEADLINE_S)
    except RuntimeError as failed:
        print(f"strikeflow fleet: {one_line(str(failed))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("strikeflow fleet: interrupted; every process started was stopped", file=sys.stderr)
        return 130
    try:
        state = record(stack, directory, start)
        write_env(directory, stack.fleet.config.settings_env())
    except OSError as unwritable:  # a fleet no later command could find: none at all
        stack.down()
        FleetState.forget(directory)
        print(f"strikeflow fleet: cannot record the fleet: {unwritable}", file=sys.stderr)
        return 1
    show(state, args.dir)
    return 0


def keep_out_of_git(directory: Path) -> None:
    """The state, logs and env file are this host's alone: a checkout ignores them, as it
    does a virtualenv's directory."""
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by strikeflow fleet up\n*\n")


def next_open_after(now: datetime) -> datetime:
    from strikeflow.sim.calendar import next_open

    return next_open(now)


def build_stack(args: argparse.Namespace, settings, directory: Path, start: datetime):
    from strikeflow.devfleet.stack import LocalStack, StackConfig
    from strikeflow.devfleet.workers import FleetConfig, RedisDbs
    from strikeflow.sim.serve import EmulatorOptions

    passed_on = {
        k: v for k, v in os.environ.items() if k.startswith("STRIKEFLOW_") and k not in OWN_SETTINGS
    }
    urls = {
        "STRIKEFLOW_BROKER_URL": settings.broker_url,
        "STRIKEFLOW_RESULT_BACKEND": settings.result_backend,
        "STRIKEFLOW_REDIS_URL": settings.redis_url,
    }
    fleet = FleetConfig(
        database_url=settings.database_url,
        emulator_url=None,
        redis=RedisDbs(0, 1, 2),  # superseded by the URLs in env, the settings' own
        log_dir=directory / "logs",
        clock="market",
        env={**FLEET_DEFAULTS, **passed_on, **urls},
    )
    return LocalStack(
        StackConfig(
            fleet=fleet,
            emulator=EmulatorOptions(seed=args.seed, clock="sim", start=start),
            emulator_port=args.emulator_port,
            speed=None,  # simulated time moves when told: strikeflow emulator clock
            flower_port=args.flower_port if args.flower else None,
            flower_auth=args.flower_auth,
        )
    )


def record(stack, directory: Path, start: datetime):
    from strikeflow.devfleet.background import FleetState, RecordedProcess

    fleet = stack.fleet
    processes = [RecordedProcess.of("emulator", "emulator", stack.emulator.process.pid,
                                    stack.emulator.log)]  # fmt: skip
    processes += [
        RecordedProcess.of("worker", w.node, w.pid, w.log) for w in fleet.workers.values()
    ]
    for role, process in (("beat", fleet.beat), ("flower", fleet.flower)):
        if process is not None:
            processes.append(RecordedProcess.of(role, role, process.pid, process.log))
    state = FleetState(
        processes=processes,
        emulator_url=stack.emulator.url,
        venue_start=start.isoformat(),
        env_file=str(directory / ENV_FILE),
        flower_url=fleet.flower_url,
    )
    state.save(directory)
    return state


def write_env(directory: Path, settings_env: dict[str, str]) -> Path:
    """The fleet's settings as ``export`` lines, readable by the owner only (the database
    URL may carry a password)."""
    path = directory / ENV_FILE
    lines = ["# strikeflow fleet up: the settings its processes read. In a shell: . " + str(path)]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(settings_env.items())]
    scratch = path.with_suffix(".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(scratch, path)
    return path


def show(state, shown_dir: Path) -> None:
    start = datetime.fromisoformat(state.venue_start)
    print(f"strikeflow fleet: up; simulated time starts {start.isoformat()} and moves when told")
    for process in state.processes:
        print(f"  {process.name:<28} pid {process.pid:<8} {process.log}")
    print(f"  venue (emulator)  {state.emulator_url}")
    if state.flower_url:
        print(f"  Flower            {state.flower_url}")
    print(f"the settings for your shell: . {shown_dir / ENV_FILE}")
    print("next: strikeflow emulator clock show · strikeflow fleet status · strikeflow fleet down")


def fleet_status(args: argparse.Namespace) -> int:
    from strikeflow.devfleet.background import FleetState

    state = FleetState.load(args.dir.resolve())
    if state is None:
        print(f"strikeflow fleet: no fleet in {args.dir}", file=sys.stderr)
        return 1
    alive = 0
    for process in state.processes:
        up = process.alive()
        alive += up
        print(f"{process.name:<28} pid {process.pid:<8} {'alive' if up else 'DEAD'}  {process.log}")
    print(
        f"venue {state.emulator_url}"
        + (f" · Flower {state.flower_url}" if state.flower_url else "")
    )
    print(f"{alive} of {len(state.processes)} alive")
    return 0 if alive == len(state.processes) else 1


def fleet_down(args: argparse.Namespace) -> int:
    from strikeflow.devfleet.background import FleetState, stop_in_order

    directory = args.dir.resolve()
    state = FleetState.load(directory)
    if state is None:
        print(f"strikeflow fleet: no fleet in {args.dir}; nothing to stop")
        return 0
    running = state.alive()
    killed = stop_in_order(running, STOP_DEADLINE_S)
    FleetState.forget(directory)
    (directory / ENV_FILE).unlink(missing_ok=True)
    note = f" ({', '.join(killed)} killed after {STOP_DEADLINE_S:g} s)" if killed else ""
    print(f"strikeflow fleet: stopped {len(running)} processes{note}; logs kept in {args.dir}")
    return 0


def one_line(report: str) -> str:
    """A devfleet failure report (a headline, then each log's tail) as one line: the
    headline and the last line the failing process logged."""
    lines = [line.strip() for line in report.splitlines() if line.strip()]
    if not lines:
        return "failed"
    tail = [line for line in lines[1:] if not line.startswith("---")]
    return f"{lines[0]}: {tail[-1]}" if tail else lines[0]
