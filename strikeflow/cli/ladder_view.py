"""The ladder of a worked option order, as ``strikeflow explain`` prints it.

A worked order (``STRIKEFLOW_OPTION_ORDER_PRICING=worked``) keeps its work on the entry's
row (``services.work_record``): the policy it started with, the quote at decision, and
one record per step (the limit, when, the step's client_order_id, what happened). Here
they become lines a person reads: the quote and policy, each step, and what the fill
kept against the far side and paid against the mid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strikeflow.cli.formats import instant, money, percent, price
from strikeflow.domain.records import Execution
from strikeflow.services.work_record import fill_figures, work_of


def ladder_lines(execution: Execution) -> list[tuple[str, str]]:
    """(label, text) lines of the execution's ladder; none for an order not worked."""
    work = work_of(execution)
    if work is None:
        return []
    decision = _mapping(work.get("decision"))
    policy = _mapping(work.get("policy"))
    lines = [
        (
            "quote",
            f"bid {price(decision.get('bid'))}, ask {price(decision.get('ask'))} at decision",
        ),
        ("policy", _policy_text(policy)),
    ]
    for step in work.get("steps") or ():
        if isinstance(step, Mapping):
            lines.append((f"step {step.get('step')}", _step_text(step)))
    lines.append(("replaces", str(work.get("replaces", 0))))
    figures = fill_figures(execution)
    if figures is not None:
        share = figures["improvement_of_half_spread"]
        kept = f"{money(figures['improvement'])} against the far side"
        kept += "" if share is None else f" ({percent(share)} of the half-spread)"
        lines.append(("improvement", kept))
        lines.append(("vs mid", f"{money(figures['slippage_vs_mid'])} paid against the mid"))
    return lines


def _policy_text(policy: Mapping[str, Any]) -> str:
    start = policy.get("start_toward_far")
    final = policy.get("final_toward_far")
    text = (
        f"from {percent(start)} toward the far side to {percent(final)} in"
        f" {policy.get('steps')} steps of {policy.get('interval_s')} s, hold"
        f" {policy.get('hold_s')} s, then {policy.get('end')}"
    )
    if policy.get("max_slippage_pct") is not None:
        text += f"; at most {policy['max_slippage_pct']}% from the mid"
    return text


def _step_text(step: Mapping[str, Any]) -> str:
    limit = "—" if step.get("price") is None else f"limit {price(step.get('price'))}"
    at = instant(step.get("at"), "%H:%M:%S")
    return f"{at} {limit}: {step.get('outcome')} ({step.get('client_order_id')})"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
