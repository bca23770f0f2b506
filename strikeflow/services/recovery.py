"""Recovery after lost messages or a crash between the venue's accept and the write.

Celery's broker is the only place an in-flight chain lives: a Redis that restarts without
persistence loses every queued step, and a worker killed between the venue's accept and
``persist_execution`` leaves an order with no row. Both leave a recommendation that is
not terminal, and the database says which. ``recover`` walks them, oldest first:

- an execution row exists → the recommendation takes the state the row implies;
- the venue holds an order for its client_order_id (a worker died between the accept
  and the write) → the order is adopted: its row is written from what the venue holds
  (contract, quantity, state), never from a new selection. A chain sent again would
  select at today's prices: another strike once the market moved, or a refusal (after
  the close, with the buying power the order itself holds) that leaves the order
  without a row for good;
- otherwise the chain is sent again. It is safe: ``fetch_chain`` refuses a terminal
  recommendation, ``submit_order`` finds an order the venue already has by the
  client_order_id derived from the recommendation id, and the execution is upserted on
  that id. Nothing is placed twice.

Beat runs the same walk with ``redrive=False``: it settles and adopts (the crash between
accept and write heals within one beat) but leaves chains that may simply be queued
behind others to ``strikeflow recover``.

A recommendation whose order the venue cannot be asked about is left for the next run
(``unreachable``): sending its chain blind would be safe, but the walk says what it knows.

Recommendations touched within ``min_age_s`` of the wall clock (the records' own clock,
not the venue's) are left alone: their chain may be in flight.

``sweep_stuck`` is the walk with no operator: beat sends it every third of
``STRIKEFLOW_STUCK_AFTER_S`` and every worker once at start. It re-drives what stayed
pending or dispatched that long after its last send (a chain Redis lost in a restart, a
step cancelled on a lost connection and acked when it came back), and stamps each
re-driven recommendation, so the next re-drive of the same one waits another bound
instead of piling chains behind a slow queue. A chain that was only slow runs twice,
harmlessly (see above).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.records import Recommendation, utcnow
from strikeflow.services.adoption import adopt
from strikeflow.services.chain_sending import send_and_mark
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.outcomes import (
    reconcile_orders,
    status_of_execution,
)


class PendingRecommendations(Protocol):
    def pending(self, limit: int = 1_000) -> list[Recommendation]:
        """Recommendations without a terminal state, oldest first."""
        ...


@dataclass
class RecoveryReport:
    reconciled: int = 0  # executions whose venue state changed
    settled: list[str] = field(default_factory=list)  # took the state of their row
    adopted: list[str] = field(default_factory=list)  # no row: written from the venue's order
    redriven: list[str] = field(default_factory=list)  # chain sent again
    waiting: int = 0  # stale, nothing at the venue, not re-driven (redrive=False)
    unreachable: list[str] = field(default_factory=list)  # the venue could not be asked
    in_flight: int = 0  # too recent to touch

    def to_json(self) -> dict[str, object]:
        return {
            "reconciled": self.reconciled,
            "settled": self.settled,
            "adopted": self.adopted,
            "redriven": self.redriven,
            "waiting": self.waiting,
            "unreachable": self.unreachable,
            "in_flight": self.in_flight,
        }


def recover(
    ctx: DispatchContext,
    pending: PendingRecommendations,
    send_chain: Callable[[str], object],
    *,
    redrive: bool = True,
    min_age_s: float = 60.0,
    now: datetime | None = None,
    limit: int = 1_000,
    restamp: bool = False,
) -> RecoveryReport:
    """Bring every stale non-terminal recommendation to its state: its row's, the order's
    the venue holds (adopted), or with ``redrive`` its chain's, sent again. ``restamp``:
    a dispatched one re-driven is marked again, which restarts its age."""
    report = RecoveryReport()
    with contextlib.suppress(BrokerUnavailable):  # fills wait for the next run
        report.reconciled = reconcile_orders(ctx, limit)
    cutoff = (now or utcnow()) - timedelta(seconds=min_age_s)
    stale, report.in_flight = _split_by_age(pending.pending(limit), cutoff)
    for rec in stale:
        coid = order_id_of(rec.id)
        stored = ctx.store.execution_by_client_order_id(coid)
        if stored is not None:
            status = status_of_execution(stored, rec.instrument_type)
            ctx.store.set_status(rec.id, status, "recovered: state of the recorded execution")
            report.settled.append(rec.id)
            continue
        try:
            placed = ctx.broker.order_by_client_id(coid)
        except BrokerUnavailable:
            report.unreachable.append(rec.id)  # never re-driven blind: it may be placed
            continue
        if placed is not None:
            adopt(ctx, rec, placed, "recovered: adopted the venue's order")
            report.adopted.append(rec.id)
        elif not redrive:
            report.waiting += 1
        elif rec.status is RecommendationStatus.PENDING or restamp:
            send_and_mark(ctx.store, send_chain, rec.id)
            report.redriven.append(rec.id)
        else:  # already marked: its updated_at keeps the age of its first send
            send_chain(rec.id)
            report.redriven.append(rec.id)
    return report


def sweep_stuck(
    ctx: DispatchContext,
    pending: PendingRecommendations,
    send_chain: Callable[[str], object],
    *,
    stuck_after_s: float,
    now: datetime | None = None,
) -> RecoveryReport:
    """Re-drive every recommendation pending or dispatched for ``stuck_after_s`` since
    its last send, settling and adopting on the way (``recover`` with ``redrive`` and
    ``restamp``)."""
    return recover(
        ctx, pending, send_chain, redrive=True, min_age_s=stuck_after_s, now=now, restamp=True
    )


def _split_by_age(
    recs: Sequence[Recommendation], cutoff: datetime
) -> tuple[list[Recommendation], int]:
    stale = [r for r in recs if (r.updated_at or r.created_at) <= cutoff]
    return stale, len(recs) - len(stale)
