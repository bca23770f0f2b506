"""``strikeflow close SYMBOL|EXECUTION_ID [--qty N] [--wait]``: close what is held.

An execution id closes what is left of that entry; a symbol (a ticker, or an option's
OCC symbol) every entry held on it. ``--qty`` closes less than all of one entry. Each
close is a recommendation sent through the closing chain (``services.closing``), the one
way strikeflow closes a position.

Exit codes: 0 sent (or, with ``--wait``, executed); 1 a close rejected, failed or
unfilled, or the database or the broker unreachable; 2 bad input (an unknown execution,
nothing held, a quantity over what is held), with nothing stored; 3 ``--wait`` ran out
of time.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from strikeflow.cli.chain_sender import Unsent, chain_sender
from strikeflow.cli.dispatch import EXIT_OUTCOME, EXIT_TIMEOUT, _seconds, _wait
from strikeflow.cli.reading import print_json

if TYPE_CHECKING:
    from strikeflow.services.closing import CloseRequested

PROG = "strikeflow close"


def add_close_command(commands: argparse._SubParsersAction) -> None:
    close = commands.add_parser(
        "close",
        help="close an entry (its execution id) or everything held on a symbol",
        description="Close what is held through the closing chain: sell to close an"
        " option, sell a stock.",
    )
    close.add_argument("target", type=_target, help="an execution id, or a symbol (SPY)")
    close.add_argument("--qty", type=_quantity, default=None, help="less than all of one entry")
    close.add_argument("--wait", action="store_true", help="block until each close is terminal")
    close.add_argument("--timeout", type=_seconds, default=120.0, help="seconds --wait waits")
    close.add_argument("--json", action="store_true", help="print JSON")
    close.set_defaults(run=run_close)


def run_close(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from strikeflow import bootstrap
    from strikeflow.domain.enums import RecommendationStatus
    from strikeflow.domain.errors import InvalidRecord
    from strikeflow.services.closing import request_close

    records = bootstrap.build_records()
    try:
        try:
            done = request_close(
                records.executions, records.recommendations, chain_sender(), args.target, args.qty
            )
        except InvalidRecord as bad:
            print(f"{PROG}: {bad}", file=sys.stderr)  # checked before anything is stored
            return 2
        except Unsent as unsent:
            reason = f"not sent: {unsent.reason}"
            records.recommendations.set_status(unsent.rid, RecommendationStatus.FAILED, reason)
            print(f"{PROG}: could not send the chain: {unsent.reason}", file=sys.stderr)
            return 1
        if not args.wait:
            _show_requests(done, args.json)
            return 0
        return _wait_all(records, done, args.timeout, args.json)
    except SQLAlchemyError as failed:
        print(f"{PROG}: database: {str(failed).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        bootstrap.close_databases()


def _show_requests(done: list[CloseRequested], as_json: bool) -> None:
    if as_json:
        print_json({"closes": [c.to_json() for c in done]})
        return
    for c in done:
        shown = c.to_json()
        qty = shown["quantity"] or "all"
        if c.sent:
            print(
                f"{c.recommendation_id} sent: close {qty} of the {shown['remaining']} left of"
                f" execution {c.entry_execution_id}"
            )
        else:
            print(
                f"{c.recommendation_id}: {c.why} for execution {c.entry_execution_id}; nothing sent"
            )


def _wait_all(records: Any, done: list[CloseRequested], timeout_s: float, as_json: bool) -> int:
    """Wait for each close sent, then show its outcome; the worst exit code of them."""
    from strikeflow.domain.position_book import quantity_text
    from strikeflow.services.closing_ids import order_id_of

    outcomes, code = [], 0
    for c in done:
        rec = _wait(records.recommendations, c.recommendation_id, timeout_s)
        row = records.executions.by_client_order_id(order_id_of(c.recommendation_id))
        outcomes.append((c, rec, row))
        code = max(code, EXIT_OUTCOME.get(rec.status.value, EXIT_TIMEOUT))
    if as_json:
        print_json({"closes": [_outcome_json(c, rec, row) for c, rec, row in outcomes]})
        return code
    for c, rec, row in outcomes:
        line = f"{rec.id} {rec.status.value}"
        if row is not None:
            line += (
                f": sold {quantity_text(row.filled_qty or Decimal(0))}"
                f" of {quantity_text(row.quantity)} at {row.filled_avg_price}"
                f" (execution {row.id}, closes {c.entry_execution_id})"
            )
            if row.realized_pnl is not None:
                line += f", realized P&L {row.realized_pnl:.2f}"
        elif rec.status_reason:
            line += f": {rec.status_reason}"
        print(line)
    return code


def _outcome_json(c: CloseRequested, rec: Any, row: Any) -> dict[str, Any]:
    return {
        **c.to_json(),
        "status": rec.status.value,
        "status_reason": rec.status_reason,
        "execution_id": None if row is None else row.id,
        "filled_qty": None if row is None else row.filled_qty,
        "filled_avg_price": None if row is None else row.filled_avg_price,
        "realized_pnl": None if row is None else row.realized_pnl,
    }


def _target(text: str) -> int | str:
    from strikeflow.domain.errors import InvalidRecord
    from strikeflow.services.closing import close_target

    try:
        return close_target(text)
    except InvalidRecord as bad:
        raise argparse.ArgumentTypeError(bad.problem) from None


def _quantity(text: str) -> Decimal | None:
    from strikeflow.domain.errors import InvalidRecord
    from strikeflow.services.closing import close_quantity_argument

    try:
        return close_quantity_argument(text)
    except InvalidRecord as bad:
        raise argparse.ArgumentTypeError(bad.problem) from None
