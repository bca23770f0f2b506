"""``strikeflow.work_order``: one step of a worked option entry (``services.working_orders``).

Sent by persist_execution for the first step and by each step for the next, with a
countdown of at most ``working_orders.MAX_WAIT_S`` (far below the visibility timeout): a
longer wait comes back here with ``left_s`` and is waited again before the step runs.
Retried on an unreachable venue or database like the order steps: a step is idempotent
per (entry, step), so a repeat replaces nothing twice.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.services import working_orders
from strikeflow.services.working_orders import NextStep
from strikeflow.tasks.pipeline import EXPECTED, ORDER_RETRY

WORK_ORDER = "strikeflow.work_order"


@shared_task(name=WORK_ORDER, **EXPECTED, **ORDER_RETRY)
def work_order(recommendation_id: str, step: int, left_s: float = 0.0) -> dict[str, Any]:
    if left_s > 0:  # the rest of a wait longer than one countdown
        send(working_orders.waited(recommendation_id, step, left_s))
        return {"recommendation_id": recommendation_id, "step": step, "outcome": "waiting"}
    done = working_orders.work_step(bootstrap.runtime().context, recommendation_id, step)
    if done.next is not None:
        send(done.next)
    return {"recommendation_id": recommendation_id, "step": step, "outcome": done.outcome}


def send(next_step: NextStep | None, since: datetime | None = None) -> None:
    """Send ``next_step`` (nothing for None) after its wait: a Celery countdown, or, with
    STRIKEFLOW_WORK_TIMER=parked, parked until the venue's clock reaches it (the whole
    wait at once: simulated time has no visibility timeout to stay under), counted from
    ``since`` (the order's submission, for the first step: the clock may have moved on
    once the entry's row was stored) or from now."""
    if next_step is None:
        return
    if parks_steps():
        rt = bootstrap.runtime()
        start = since or rt.context.now()
        due = start + timedelta(seconds=next_step.wait_s + next_step.left_s)
        payload = json.dumps([next_step.recommendation_id, next_step.step])
        bootstrap.parked_steps(rt.settings.redis_url).park(due, payload)
        return
    work_order.apply_async(
        (next_step.recommendation_id, next_step.step, next_step.left_s),
        countdown=next_step.wait_s,
    )


def parks_steps() -> bool:
    """Whether this process parks worked steps on simulated time (STRIKEFLOW_WORK_TIMER)."""
    return bootstrap.runtime().settings.work_timer == "parked"


def parked_step(payload: str) -> tuple[str, int]:
    """A parked step's (recommendation_id, step), as ``send`` parked it."""
    recommendation_id, step = json.loads(payload)
    return str(recommendation_id), int(step)
