"""Stale entries: an entry order still resting unfilled after its time is canceled.

An entry is priced to fill at once (a marketable limit) or within minutes (at mid); one
still resting long after is an order the market moved away from, and it would fill, if
ever, at a moment the signal no longer describes. So an OPEN execution still unfinished
``max_rest_s`` after it was recorded is canceled at the venue. A 0DTE option entry is
canceled at the day-trade cut-off (``RiskLimits.day_trade_cutoff``) at the latest,
however young: a contract expiring today must not be bought in the last minutes.

Safe to run twice, and beside ``reconcile_orders``: each order is looked up at the venue
first. One already final (filled, canceled, expired) is only recorded; one whose cancel
is already pending is left to finish. Before a cancel is sent, its cause is kept with
the order (``DispatchStore.note_cancel``), so whichever path records the venue's answer
(the cancel's reply here, or reconciliation later) names it: "canceled after resting
5 min 00 s unfilled (0 of 5 filled)".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from strikeflow.domain.enums import InstrumentType, PositionEffect
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.expiry import NEW_YORK, trading_date
from strikeflow.domain.records import Execution
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.outcomes import record_order
from strikeflow.services.ports import OrderCancelling

DEFAULT_MAX_REST_S = 300.0
PENDING_CANCEL = "pending_cancel"


@dataclass
class StaleReport:
    """What one run did, by client_order_id."""

    canceled: list[str] = field(default_factory=list)  # a cancel sent by this run
    recorded: list[str] = field(default_factory=list)  # already final at the venue
    pending: list[str] = field(default_factory=list)  # a cancel sent earlier, not done yet
    unreachable: list[str] = field(default_factory=list)  # the venue did not answer
    unsupported: bool = False  # the broker cannot cancel: nothing was asked

    def to_json(self) -> dict[str, Any]:
        return {
            "canceled": self.canceled,
            "recorded": self.recorded,
            "pending": self.pending,
            "unreachable": self.unreachable,
            "unsupported": self.unsupported,
        }


def resting(duration: timedelta) -> str:
    """``5 min 00 s``; ``1 h 05 min 00 s`` from an hour on."""
    seconds = max(int(duration.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {seconds:02d} s"
    return f"{minutes} min {seconds:02d} s"


def stale_cause(
    execution: Execution, now: datetime, max_rest_s: float, cutoff: time | None
) -> str | None:
    """Why ``execution`` must be canceled at ``now``, in words; None while it may rest.

    It rested ``max_rest_s`` (from when it was recorded, on the same clock as ``now``),
    or it is a 0DTE option entry and ``now`` is at or past the New York ``cutoff``."""
    age = now - execution.created_at
    if age >= timedelta(seconds=max_rest_s):
        return f"after resting {resting(age)}"
    zero_dte = (
        execution.instrument_type is not InstrumentType.STOCK
        and execution.expiration_date == trading_date(now)
    )
    if zero_dte and cutoff is not None and now.astimezone(NEW_YORK).time() >= cutoff:
        return f"at the {cutoff:%H:%M} ET day-trade cut-off (0DTE) after resting {resting(age)}"
    return None


def stale_entries(
    ctx: DispatchContext, max_rest_s: float, limit: int = 500
) -> list[tuple[Execution, str]]:
    """The unfinished entry executions due for a cancel now, each with its cause."""
    now, cutoff = ctx.now(), ctx.policy.risk.day_trade_cutoff
    found = []
    for execution in ctx.store.unfinished_executions(limit):
        if execution.position_effect is not PositionEffect.OPEN:
            continue
        cause = stale_cause(execution, now, max_rest_s, cutoff)
        if cause is not None:
            found.append((execution, cause))
    return found


def cancel_stale_entries(
    ctx: DispatchContext, max_rest_s: float = DEFAULT_MAX_REST_S, limit: int = 500
) -> StaleReport:
    """Cancel every entry resting past its time (``stale_entries``) and record the
    venue's answer; the recommendation follows (``outcomes.follow_venue``)."""
    report = StaleReport()
    if not isinstance(ctx.broker, OrderCancelling):
        report.unsupported = True
        return report
    broker = ctx.broker
    for execution, cause in stale_entries(ctx, max_rest_s, limit):
        coid = execution.client_order_id
        try:
            order = ctx.broker.order_by_client_id(coid)
            if order is None:  # the venue does not know it: recovery's concern, not ours
                continue
            if not order.is_open:
                record_order(ctx, order)
                report.recorded.append(coid)
                continue
            if order.broker_status == PENDING_CANCEL:
                report.pending.append(coid)
                continue
            ctx.store.note_cancel(coid, cause, ctx.now())
            try:
                answer, done = broker.cancel_order(order.id), report.canceled
            except OrderRejected:  # it closed meanwhile (filled, expired): read how
                answer, done = ctx.broker.order_by_client_id(coid) or order, report.recorded
            record_order(ctx, answer)
            done.append(coid)
        except BrokerUnavailable:
            report.unreachable.append(coid)  # the next run asks again
    return report
