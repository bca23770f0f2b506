"""``strikeflow recover``: after Redis lost its queues (or a worker died between the
venue's accept and the write), bring every stale recommendation to its terminal state.

It runs here, in this process, against the database and the venue, and sends the chains
it re-drives to the broker: the same client_order_ids, so nothing trades twice. Exit 0:
done; 3: the venue did not answer about some (listed), run it again; 1: it could not run
(the database, the venue or the broker failed, or the setup is not ready: ``main`` says
which in one line).
"""

from __future__ import annotations

import argparse
import json

from strikeflow.cli.failures import EXIT_OK, EXIT_RUN_AGAIN


def add_recover_command(commands: argparse._SubParsersAction) -> None:
    rec = commands.add_parser(
        "recover", help="re-drive stale recommendations and adopt orders the venue holds"
    )
    rec.add_argument(
        "--min-age", type=float, default=60.0, help="seconds since a recommendation last moved"
    )
    rec.add_argument(
        "--no-redrive", action="store_true", help="settle and adopt only; send no lost chain"
    )
    rec.add_argument("--json", action="store_true", help="print JSON")
    rec.set_defaults(run=run_recover, usage_error=rec.error)


def run_recover(args: argparse.Namespace) -> int:
    if not args.min_age >= 0:
        args.usage_error(f"--min-age must be a number of seconds >= 0, got {args.min_age}")
    import strikeflow.workers.app  # noqa: F401  (configures and becomes the current app)
    from strikeflow import bootstrap
    from strikeflow.services.recovery import recover
    from strikeflow.tasks.chains import dispatch_chain

    try:
        rt = bootstrap.runtime()
        report = recover(
            rt.context,
            rt.recommendations,
            dispatch_chain,
            redrive=not args.no_redrive,
            min_age_s=args.min_age,
        )
    finally:
        bootstrap.close_databases()
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(
            f"reconciled {report.reconciled}, settled {len(report.settled)}, adopted"
            f" {len(report.adopted)}, re-driven {len(report.redriven)}, waiting"
            f" {report.waiting}, in flight {report.in_flight}, venue unreachable for"
            f" {len(report.unreachable)}"
        )
    return EXIT_RUN_AGAIN if report.unreachable else EXIT_OK
