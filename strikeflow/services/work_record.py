"""A worked order's record: ``explain_json["work"]`` on its entry's execution row.

Written when the entry is persisted (``started``: the policy, the quote at decision and
the first step), then by each step (``db.working_store``); read back by the steps
(``policy_of``, ``decision_of``, ``current_client_order_id``) and by reconciliation, which
reads the latest order of the chain, not the first. The figures of a fill
(``fill_figures``) are what ``outcomes.record_order`` writes once something filled.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.records import Execution
from strikeflow.domain.sizing import OPTION_MULTIPLIER
from strikeflow.domain.working import Quoted, Touch, WorkEnd, WorkingPolicy, work_figures
from strikeflow.services.ports import WorkingStore

WORK_KEY = "work"
_POLICY_NUMBERS = ("start_toward_far", "final_toward_far", "max_slippage_pct", "max_move_pct")


def started(policy: WorkingPolicy, decision: Quoted, order: BrokerOrder, at: datetime) -> dict:
    """The work's record as the entry is persisted: its policy, the quote at decision,
    and step 0 (the order submit_order placed)."""
    return {
        "policy": policy_json(policy),
        "decision": {"bid": str(decision.bid), "ask": str(decision.ask)},
        "client_order_id": order.client_order_id,
        "replaces": 0,
        "steps": [step_json(0, order.limit_price, at, order.client_order_id, "placed")],
    }


def step_json(
    step: int, price: Decimal | None, at: datetime, client_order_id: str | None, outcome: str
) -> dict[str, Any]:
    return {
        "step": step,
        "price": None if price is None else str(price),
        "at": at.isoformat(),
        "client_order_id": client_order_id,
        "outcome": outcome,
    }


def policy_json(policy: WorkingPolicy) -> dict[str, Any]:
    return {
        "start_toward_far": str(policy.start_toward_far),
        "steps": policy.steps,
        "interval_s": policy.interval_s,
        "final_toward_far": str(policy.final_toward_far),
        "max_slippage_pct": _text(policy.max_slippage_pct),
        "hold_s": policy.hold_s,
        "end": policy.end.value,
        "max_move_pct": _text(policy.max_move_pct),
        "market": policy.market,
    }


def work_of(execution: Execution) -> dict[str, Any] | None:
    """The row's work record; None for an order that is not worked."""
    work = (execution.explain_json or {}).get(WORK_KEY)
    return work if isinstance(work, dict) and "policy" in work else None


def policy_of(work: dict[str, Any]) -> WorkingPolicy:
    """The policy the work started with (a rules change meanwhile does not move it)."""
    raw = dict(work["policy"])
    for name in _POLICY_NUMBERS:
        raw[name] = None if raw.get(name) is None else Decimal(raw[name])
    raw["end"] = WorkEnd(raw["end"])
    return WorkingPolicy(**raw)


def decision_of(work: dict[str, Any]) -> Touch:
    return Touch(Decimal(work["decision"]["bid"]), Decimal(work["decision"]["ask"]))


def current_client_order_id(execution: Execution) -> str:
    """The client_order_id of the order the row stands for now: the latest step's for a
    worked entry, the row's own otherwise."""
    work = work_of(execution)
    latest = None if work is None else work.get("client_order_id")
    return latest if isinstance(latest, str) and latest else execution.client_order_id


def fill_figures(execution: Execution) -> dict[str, Decimal | None] | None:
    """What a worked entry's fill kept against the far side at decision and paid against
    the mid (money: per unit x filled quantity x multiplier), and the improvement per
    unit as a share of the half-spread; None for an order not worked or not filled."""
    work = work_of(execution)
    price, filled = execution.filled_avg_price, execution.filled_qty
    if work is None or price is None or not filled:
        return None
    figures = work_figures(decision_of(work), price, execution.action)
    units = filled * (execution.multiplier or OPTION_MULTIPLIER)
    share = figures.improvement_of_half_spread
    return {
        "improvement": (figures.improvement * units).quantize(Decimal("0.0001")),
        "improvement_of_half_spread": None if share is None else share.quantize(Decimal("0.0001")),
        "slippage_vs_mid": (figures.slippage * units).quantize(Decimal("0.0001")),
        "fill_price": price,
    }


def record_figures(store: object, execution: Execution) -> None:
    """Write ``fill_figures`` when the store records worked orders and there are any."""
    figures = fill_figures(execution)
    if figures is not None and isinstance(store, WorkingStore):
        store.record_work_figures(execution.client_order_id, figures)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


__all__ = [
    "WORK_KEY",
    "current_client_order_id",
    "decision_of",
    "fill_figures",
    "policy_of",
    "record_figures",
    "started",
    "step_json",
    "work_of",
]
