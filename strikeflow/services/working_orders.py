"""Working an option order: each step a re-quote and a replace of the one resting order.

Under STRIKEFLOW_OPTION_ORDER_PRICING=worked, submit_order places an option entry, or the
close of one, at the first price of its ladder (``domain.working``: near the mid; the
policy of its purpose: an entry, an ordinary exit, or an urgent one, a stop or a clock
exit near the close), and persist_execution schedules step 1 (``first_step``). Each
step (``work_step``, the ``strikeflow.work_order`` task) then:

1. reads the order at the venue by the latest step's client_order_id; filled, canceled,
   expired, rejected or replaced by someone else: the work stops and the order is
   recorded as it stands (``outcomes.record_order``);
2. re-quotes the contract; a quote gone one-sided, or a mid that moved more than the
   policy's ``max_move_pct`` since the decision, cancels the order with that reason;
3. replaces the order at the step's price (``price_at_step``, never less aggressive than
   the step before, never past the cap) under a client_order_id derived from the entry's
   and the step (``orders.worked_client_order_id``); the venue's replace is atomic (the
   old order ends ``replaced`` as the new one rests), so two orders never rest for one
   entry; the new order carries what filled and works the rest;
4. records the step on the entry's row (``WorkingStore``) and returns the next step.

After the last step's hold, the end: the order is canceled (``end = cancel``: a trade not
worth more is not made; an exit is decided again at the next minute), and the
recommendation ends ``unfilled`` with the cause; a policy ending ``marketable`` (the
shipped urgent exits) replaces the order at the fresh far side instead.

Idempotent per (entry, step): a step delivered twice finds its own client_order_id at
the venue and replaces nothing again; a step already recorded schedules nothing again.
Countdowns are at most ``MAX_WAIT_S``, far below the broker's visibility timeout (600 s):
a longer hold is waited in pieces (``NextStep.left_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

from strikeflow.domain.enums import ExecutionMode, ExecutionStatus
from strikeflow.domain.errors import InvalidPolicy, OrderRejected
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import BrokerOrder, OrderNotReplaceable, worked_client_order_id
from strikeflow.domain.records import Execution
from strikeflow.domain.working import (
    WorkingPolicy,
    end_price,
    moved_too_far,
    price_at_step,
)
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.messages import PlacedOrder
from strikeflow.services.outcomes import record_order, worked_order
from strikeflow.services.ports import OrderCancelling, OrderReplacing, WorkingStore
from strikeflow.services.work_record import (
    current_client_order_id,
    decision_of,
    policy_of,
    step_json,
    work_of,
)

MAX_WAIT_S = 300.0  # every countdown: half the broker's visibility timeout at most


@dataclass(frozen=True, slots=True)
class NextStep:
    """The step to send: ``work_order(recommendation_id, step, left_s)`` in ``wait_s``
    seconds; ``left_s`` is what remains of a longer wait after that one."""

    recommendation_id: str
    step: int
    wait_s: float
    left_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StepDone:
    """What a step did: its outcome in words, and the next step (None: the work is over)."""

    outcome: str
    next: NextStep | None = None


def waited(recommendation_id: str, step: int, wait_s: float) -> NextStep:
    """``step`` after ``wait_s``, in countdowns no longer than ``MAX_WAIT_S``."""
    first = min(max(wait_s, 0.0), MAX_WAIT_S)
    return NextStep(recommendation_id, step, first, max(wait_s - first, 0.0))


def first_step(ctx: DispatchContext, placed: PlacedOrder) -> NextStep | None:
    """Step 1 of a worked entry just persisted, after its first price's wait; None for
    any other order, or one already final (filled at once, refused) or simulated."""
    order = placed.order
    if not worked_order(ctx, placed) or not order.is_open:
        return None
    if order.execution_mode is ExecutionMode.SIMULATED:
        return None
    policy = ctx.policy.working.policy(placed.sized.ticket.strategy, placed.sized.purpose)
    return waited(placed.sized.ticket.recommendation_id, 1, _wait_after(policy, 0))


def work_step(ctx: DispatchContext, recommendation_id: str, step: int) -> StepDone:
    """Step ``step`` (1 .. policy.steps, the last being the end) of the entry's work."""
    store = _working_store(ctx)
    row = ctx.store.execution_by_client_order_id(order_id_of(recommendation_id))
    work = None if row is None else work_of(row)
    if row is None or work is None:
        return StepDone("no worked order recorded for this recommendation")
    if step <= int(work.get("replaces", 0)):
        return StepDone(f"step {step} was worked already")
    policy = policy_of(work)
    own_cid = worked_client_order_id(row.client_order_id, step)
    own = ctx.broker.order_by_client_id(own_cid)
    if own is not None:  # a step delivered again after its replace: record, never repeat
        return _replaced(ctx, store, row, policy, step, own, "replaced (found at the venue)")
    current = ctx.broker.order_by_client_id(current_client_order_id(row))
    if current is None:
        return StepDone("the order is not found at the venue")
    if current.status is ExecutionStatus.REPLACED:  # by someone else: ours would be found
        ctx.store.record_fill(
            row.client_order_id,
            current.status,
            filled_qty=current.filled_qty,
            filled_avg_price=current.filled_avg_price,
            filled_at=current.filled_at,
        )
        return StepDone("the order was replaced by another than this work: the work stops")
    if not current.is_open:
        record_order(ctx, current)
        return StepDone(f"the order is {current.broker_status}: the work stops")
    fresh = ctx.market.option_snapshots([row.option_symbol]).get(row.option_symbol)
    decision = decision_of(work)
    why = "no quote" if fresh is None else moved_too_far(decision, fresh, policy.max_move_pct)
    if why is not None:
        return _cancel(ctx, store, row, current, step, f"as the market moved: {why}")
    underlying = parse_occ(row.option_symbol).root
    if step < policy.steps:
        price = price_at_step(
            policy,
            decision,
            fresh,
            step,
            row.action,
            previous=current.limit_price,
            underlying=underlying,
        )
    else:
        price = end_price(policy, fresh, row.action, underlying=underlying)
        if price is None:
            cause = f"after working {policy.steps} step(s) to {current.limit_price}"
            return _cancel(ctx, store, row, current, step, cause)
    broker = _replacing(ctx)
    try:
        new = broker.replace_order(current.id, current.qty, price, own_cid)
    except OrderNotReplaceable as refused:
        again = ctx.broker.order_by_client_id(current.client_order_id)
        if again is not None:
            record_order(ctx, again)
        return StepDone(f"not replaceable ({refused.message}): the work stops")
    return _replaced(ctx, store, row, policy, step, new, "replaced")


def _replaced(
    ctx: DispatchContext,
    store: WorkingStore,
    row: Execution,
    policy: WorkingPolicy,
    step: int,
    new: BrokerOrder,
    outcome: str,
) -> StepDone:
    """Record the step's order on the entry's row; then its fills, if any; then the next
    step unless this one was recorded already (by the delivery that made it)."""
    entry = step_json(step, new.limit_price, ctx.now(), new.client_order_id, outcome)
    written = store.record_work_step(
        row.client_order_id, entry, new.id, new.limit_price, replaces=step
    )
    if new.filled_qty or not new.is_open:
        record_order(ctx, new)
    if not written:
        return StepDone(f"step {step} was recorded already")
    if not new.is_open or step >= policy.steps:
        return StepDone(f"step {step} {outcome} at {new.limit_price}")
    wait = _wait_after(policy, step)
    return StepDone(
        f"step {step} {outcome} at {new.limit_price}",
        waited(row.recommendation_id, step + 1, wait),
    )


def _wait_after(policy: WorkingPolicy, step: int) -> float:
    """How long step ``step`` rests before the next: the interval; the last, its hold."""
    return policy.hold_s if step >= policy.steps - 1 else policy.interval_s


def _cancel(
    ctx: DispatchContext,
    store: WorkingStore,
    row: Execution,
    current: BrokerOrder,
    step: int,
    cause: str,
) -> StepDone:
    """Cancel the resting order with ``cause`` kept first (the final word names it)."""
    ctx.store.note_cancel(row.client_order_id, cause, ctx.now())
    entry = step_json(step, None, ctx.now(), current.client_order_id, f"canceled {cause}")
    store.record_work_step(row.client_order_id, entry)
    if not isinstance(ctx.broker, OrderCancelling):
        raise InvalidPolicy(f"{type(ctx.broker).__name__} cannot cancel orders")
    try:
        answer = ctx.broker.cancel_order(current.id)
    except OrderRejected:  # closed meanwhile (filled, say): read it as it stands
        answer = ctx.broker.order_by_client_id(current.client_order_id)
    if answer is not None and answer.status is not ExecutionStatus.REPLACED:
        record_order(ctx, answer)
    return StepDone(f"canceled {cause}")


def _working_store(ctx: DispatchContext) -> WorkingStore:
    if not isinstance(ctx.store, WorkingStore):
        raise InvalidPolicy(f"{type(ctx.store).__name__} cannot record worked orders")
    return ctx.store


def _replacing(ctx: DispatchContext) -> OrderReplacing:
    if not isinstance(ctx.broker, OrderReplacing):
        raise InvalidPolicy(f"{type(ctx.broker).__name__} cannot replace orders")
    return ctx.broker


__all__ = ["MAX_WAIT_S", "NextStep", "StepDone", "first_step", "waited", "work_step"]
