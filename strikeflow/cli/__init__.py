"""The ``strikeflow`` command.

``main`` is the one place a command ends: whatever it raises becomes one line on stderr
and an exit code (``failures``), Ctrl-C included, so a user never reads a traceback. It
imports the commands only once inside that guard: an interrupt while they load is an
interrupt too. Building the parser loads argparse-level modules only (each command
imports its machinery when it runs), so ``--help`` and a usage error answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from strikeflow.cli import failures  # stdlib and domain errors only: loads in a moment


def main(argv: Sequence[str] | None = None) -> int:
    args = None
    try:
        args = _parser().parse_args(argv)
        from strikeflow import bootstrap

        with bootstrap.existing_databases_only():  # only `db upgrade` and the demo make one
            return args.run(args)
    except KeyboardInterrupt:
        return failures.interrupted(args)
    except BrokenPipeError:
        return failures.output_closed()
    except Exception as error:
        return failures.failed(error, args)


def _parser() -> argparse.ArgumentParser:
    from strikeflow.cli.backtest import add_backtest_command
    from strikeflow.cli.close import add_close_command
    from strikeflow.cli.data import add_data_commands
    from strikeflow.cli.database import add_db_commands
    from strikeflow.cli.demo import add_demo_command
    from strikeflow.cli.dispatch import add_dispatch_commands
    from strikeflow.cli.emulator import add_emulator_command
    from strikeflow.cli.failures import DEBUG_VARIABLE, exit_code_lines
    from strikeflow.cli.fleet import add_fleet_command
    from strikeflow.cli.recover import add_recover_command

    parser = argparse.ArgumentParser(
        prog="strikeflow",
        description="Trading signals in, stock and option orders out.",
        epilog=f"exit codes:\n{exit_code_lines()}\n\n"
        f"{DEBUG_VARIABLE}=1 prints the traceback of an error above its one line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    add_demo_command(commands)
    add_backtest_command(commands)
    add_data_commands(commands)
    add_db_commands(commands)
    add_emulator_command(commands)
    add_fleet_command(commands)
    add_dispatch_commands(commands)
    add_close_command(commands)
    add_recover_command(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
