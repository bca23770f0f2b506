"""Recovery after lost messages or a crash between the venue's accept and the write.

Celery's broker is the only place an in-flight chain lives: a Redis that restarts without
persistence loses every queued step, and a worker killed between the venue's accept and
``persist_execution`` leaves an order with no row. Both leave a recommendation that is
not terminal, and the database says which. ``recover`` walks them, oldest first:

- an execution row exists → the recommendation takes the state the row implies;
- otherwise the chain is sent again. It is safe: ``fetch_chain`` refuses a terminal
  recommendation, ``submit_order`` finds an order the venue already has by the
  client_order_id derived from the recommendation id (lookup before submit), and the
  execution is upserted on that id. An order the venue accepted is adopted, never
  placed twice.

``reconcile_orders`` on beat runs the same walk with ``redrive=False``: it settles and
adopts (the crash between accept and write heals within one beat) but leaves chains that
may simply be queued behind others to ``strikeflow recover``.

A recommendation whose order the venue cannot be asked about is left for the next run
(``unreachable``): sending its chain blind would be safe, but the walk says what it knows.

Recommendations touched within ``min_age_s`` of the wall clock (the records' own clock,
not the venue's) are left alone: their chain may be in flight.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.records import (
    Execution,
    ExecutionStatus,
    Recommendation,
    RecommendationStatus,
    utcnow,
)
from strikeflow.services.dispatch_policy import DispatchContext, client_order_id_for
from strikeflow.services.dispatch_records import reconcile_orders


class PendingRecommendations(Protocol):
    def pending(self, limit: int = 1_000) -> list[Recommendation]:
        """Recommendations without a terminal state, oldest first."""
        ...


@dataclass
class RecoveryReport:
    reconciled: int = 0  # executions whose venue state changed
    settled: list[str] = field(default_factory=list)  # took the state of their row
    adopted: list[str] = field(default_factory=list)  # the venue had the order, no row
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
) -> RecoveryReport:
    """Bring every stale non-terminal recommendation to its state, or its chain (a
    chain is sent for an order the venue holds always, for the others when ``redrive``)."""
    report = RecoveryReport()
    with contextlib.suppress(BrokerUnavailable):  # fills wait for the next run
        report.reconciled = reconcile_orders(ctx, limit)
    cutoff = (now or utcnow()) - timedelta(seconds=min_age_s)
    stale, report.in_flight = _split_by_age(pending.pending(limit), cutoff)
    for rec in stale:
        coid = client_order_id_for(rec.id)
        stored = ctx.store.execution_by_client_order_id(coid)
        if stored is not None:
            status = _status_of(stored)
            ctx.store.set_status(rec.id, status, "recovered: state of the recorded execution")
            report.settled.append(rec.id)
            continue
        try:
            placed = ctx.broker.order_by_client_id(coid)
        except BrokerUnavailable:
            report.unreachable.append(rec.id)  # never re-driven blind: it may be placed
            continue
        if placed is not None:
            report.adopted.append(rec.id)
        elif redrive:
            report.redriven.append(rec.id)
        else:
            report.waiting += 1
            continue
        if rec.status is RecommendationStatus.PENDING:
            ctx.store.set_status(rec.id, RecommendationStatus.DISPATCHED)
        send_chain(rec.id)
    return report


def _split_by_age(
    recs: Sequence[Recommendation], cutoff: datetime
) -> tuple[list[Recommendation], int]:
    stale = [r for r in recs if (r.updated_at or r.created_at) <= cutoff]
    return stale, len(recs) - len(stale)


def _status_of(execution: Execution) -> RecommendationStatus:
    if execution.status in (ExecutionStatus.REJECTED, ExecutionStatus.CANCELED):
        return RecommendationStatus.REJECTED
    if execution.status is ExecutionStatus.FAILED:
        return RecommendationStatus.FAILED
    if execution.explain_json.get("fallback") is not None:
        return RecommendationStatus.FELL_BACK
    return RecommendationStatus.EXECUTED
