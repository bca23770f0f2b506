"""The chain's steps, one task each, so each retries on its own.

Each task decodes its message (``services.messages``), calls its service and encodes
what the service returned: nothing else. The retry policy of each is declared once, in
its decorator (``step``):

- reads from the venue and the database retry on BrokerUnavailable and
  StoreUnavailable (they change nothing; select_contract's one write, the selection
  report, is idempotent);
- submit_order retries only those, with the same client_order_id, and once its retry
  budget is spent hands the order to the fallback policy (a simulated fill, or the
  failure);
- persist_execution retries anything but a domain error: its upsert is idempotent and
  it must not lose the record of an order that was placed.

Retries are budgeted in time, not attempts (``tasks.budgeted``): each step retries
until a deadline set at its first failure. Every countdown (10 s at most) and every
budget (120 s at most) stays far below the broker's visibility timeout
(workers.config.VISIBILITY_TIMEOUT_S = 600 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.domain.errors import BrokerUnavailable, DomainError, StoreUnavailable
from strikeflow.services import dispatch_steps as steps
from strikeflow.services import outcomes
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.manual_signal import stored_recommendation_id
from strikeflow.services.messages import (
    ChainFetched,
    ContractSelected,
    PlacedOrder,
    PriceChecked,
    Reselection,
    SizedOrder,
    decode,
    encode,
)
from strikeflow.services.outcomes import EXPECTED_FAILURES, REFUSALS
from strikeflow.tasks import chains
from strikeflow.tasks.budgeted import BudgetedTask

log = logging.getLogger(__name__)
Json = dict[str, Any]

# Every retry below is budgeted in time (tasks.budgeted, domain.retry_budget): waits of
# 1, 2, 4, 8, then 10 s (each at least half that, never below STRIKEFLOW_RETRY_FLOOR_S)
# until STRIKEFLOW_RETRY_DEADLINE_S (60 s) after the first failure, then the step fails
# and its errback records it. An outage of 30 s is ridden out with 30 s to spare.
#
# Venue and database reads.
READ_RETRY: dict[str, Any] = {
    "base": BudgetedTask,
    "autoretry_for": (BrokerUnavailable, StoreUnavailable),
}
# Orders: the same message each time (the same client_order_id); once the budget is
# spent, the fallback policy (the venue) or the failure (the database: submit_order
# reads it before sending anything). Acknowledged late, and never redelivered for a lost
# worker: the client_order_id and the database's guard decide what a redelivery may do,
# not the worker's death.
ORDER_RETRY: dict[str, Any] = {
    "base": BudgetedTask,
    "autoretry_for": (BrokerUnavailable, StoreUnavailable),
    "acks_late": True,
    "reject_on_worker_lost": False,
}
# Database writes: any error but a domain refusal or a malformed argument (neither a bad
# record nor a message of the wrong shape gets better by waiting).
STORE_RETRY: dict[str, Any] = {
    "base": BudgetedTask,
    "autoretry_for": (Exception,),
    "dont_autoretry_for": (DomainError, TypeError, KeyError),
}
# A refusal (a risk limit, the kill switch, the venue's no, no eligible contract) or a
# message from another release is an outcome, not a fault: Celery logs a task raising
# one of ``throws`` once, at INFO and without a traceback ("raised expected"), and still
# calls the errback that records it. ERROR with a traceback is left to the unexpected.
EXPECTED = {"throws": REFUSALS + EXPECTED_FAILURES}


def step(name: str, retry: dict[str, Any], **options: Any) -> Callable[[Callable], Any]:
    """A chain step's task: its name, its retry and ack policy, refusals as expected."""
    return shared_task(name=name, **EXPECTED, **retry, **options)


def _ctx() -> DispatchContext:
    return bootstrap.runtime().context


@step(chains.FETCH_CHAIN, READ_RETRY)
def fetch_chain(recommendation_id: str, reselection: Json | None = None) -> Json:
    again = None if reselection is None else decode(Reselection, reselection)
    rid = stored_recommendation_id(recommendation_id)
    return encode(steps.fetch_chain(_ctx(), rid, again))


@step(chains.SELECT_CONTRACT, READ_RETRY)  # it stores the selection report
def select_contract(message: Json) -> Json:
    return encode(steps.select_contract(_ctx(), decode(ChainFetched, message)))


@step(chains.SNAPSHOT_PRICE, READ_RETRY, bind=True)
def snapshot_price(self, message: Json) -> Json:
    """A move beyond the limit sends fetch_chain and select_contract again, in this
    step's place (``Task.replace``: the rest of the chain follows them)."""
    checked = steps.snapshot_price(_ctx(), decode(ContractSelected, message))
    if isinstance(checked, Reselection):
        again = chains.reselection_chain(checked.recommendation_id, encode(checked), self.app)
        raise self.replace(again)
    return encode(checked)


@step(chains.SIZE_POSITION, READ_RETRY)
def size_position(message: Json) -> Json:
    return encode(steps.size_position(_ctx(), decode(PriceChecked, message)))


# A refusal heard on a retry is asked again once (a header on the retried message says so).
REFUSAL_ASKED_AGAIN = "strikeflow_refusal_asked_again"


@step(chains.SUBMIT_ORDER, ORDER_RETRY, bind=True)
def submit_order(self, message: Json) -> Json:
    """An order the venue refuses is recorded, not raised (persist_execution writes it
    rejected): its one log line is this task's, at WARNING, in the venue's words.

    A refusal heard on a retry is not the last word yet: the attempt before it failed
    without an answer (a timeout) and may still land at the venue after the refusal, an
    order with no row. The same message is sent once more after the budget's wait; by
    then the earlier attempt has landed (the venue answers the duplicate with that
    order) or never will (the venue refuses again, and that is recorded)."""
    rt = bootstrap.runtime()
    sized = decode(SizedOrder, message)
    try:
        placed = steps.submit_order(rt.context, sized)
    except BrokerUnavailable as down:
        self.retry_if_budget_left(down)  # the same message, so the same client_order_id
        placed = steps.fall_back(rt.context, rt.fallback, sized, down)
    if placed.refusal is not None and _ask_again(self):
        log.info("a retried order was refused; sent once more: %s", placed.refusal.error)
        raise self.retry(headers={REFUSAL_ASKED_AGAIN: True})
    if placed.refusal is not None:
        log.warning("the venue refused the order: %s", placed.refusal.error)
    return encode(placed)


def _ask_again(task: Any) -> bool:
    """Whether a refusal is heard on a retry (an earlier attempt went unanswered) not yet
    asked again, with budget left for one more try."""
    asked = bool((task.request.headers or {}).get(REFUSAL_ASKED_AGAIN))
    return bool(task.request.retries) and not asked and task.retry_countdown() is not None


@step(chains.PERSIST_EXECUTION, STORE_RETRY)
def persist_execution(message: Json) -> Json:
    """A worked option entry's first step is sent once its row is stored
    (``working_orders.first_step``; STRIKEFLOW_OPTION_ORDER_PRICING=worked); parked on
    simulated time (STRIKEFLOW_WORK_TIMER=parked), just before: a backtest's driver moves
    its clock once the entry is final, and must find the step parked, due from the
    order's submission. A step parked twice (a retry) is worked once: steps are
    idempotent."""
    from strikeflow.services.working_orders import first_step
    from strikeflow.tasks.working import parks_steps, send

    ctx, placed = _ctx(), decode(PlacedOrder, message)
    step = first_step(ctx, placed)
    parked = step is not None and parks_steps()
    if parked:  # before the row makes the entry final: the driver then waits on it
        send(step, since=placed.order.submitted_at)
    recorded = outcomes.persist_execution(ctx, placed)
    if not parked:
        send(step)
    return encode(recorded)


@step("strikeflow.reconcile_orders", READ_RETRY)
def reconcile_orders(limit: int = 500) -> int:
    return outcomes.reconcile_orders(_ctx(), limit)
