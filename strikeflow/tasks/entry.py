"""The entry point (``strikeflow.dispatch``), the chain it sends, and the failure path.

Every step carries ``link_error → on_step_failure``. Celery calls an errback that takes
``(request, exc, traceback)`` inline, in the process where the step failed (for a
worker lost mid-task, its main process, which has no Runtime): so the errback only
classifies the failure and sends ``record_failure`` to the persistence queue, where the
write is retried like any other store write. Both tolerate running twice: a terminal
state is never overwritten.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, chain, current_app, shared_task
from celery.result import AsyncResult

from strikeflow import bootstrap
from strikeflow.domain.errors import InvalidRecord, OrderRejected
from strikeflow.domain.records import RecommendationStatus
from strikeflow.services import dispatch as steps
from strikeflow.services.dispatch_payload import jsonable
from strikeflow.services.dispatch_records import REJECTION_KINDS
from strikeflow.services.manual_signal import manual_recommendation_from, stored_recommendation_id
from strikeflow.tasks.pipeline import (
    EXPECTED,
    STORE_RETRY,
    fetch_chain,
    persist_execution,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)

log = logging.getLogger(__name__)

# Refusals (DispatchRejected, OrderRejected, NoEligibleContract, bad inputs) end
# "rejected", anything else "failed". By class name along the MRO, so an exception
# rebuilt from a result backend matches as well; the services own the list.
REJECTIONS = frozenset(REJECTION_KINDS) - {"rejected"}


def failure_kind(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "rejected" if names & REJECTIONS else "failed"


def recommendation_id_of(request: Any) -> str | None:
    """The id a failed step worked for: its first argument, or that payload's field."""
    args = getattr(request, "args", None) or ()
    first = args[0] if args else (getattr(request, "kwargs", None) or {}).get("payload")
    if isinstance(first, str):
        return first
    if isinstance(first, dict) and isinstance(first.get("recommendation_id"), str):
        return first["recommendation_id"]
    return None


STEPS = tuple(
    task.name
    for task in (
        fetch_chain,
        select_contract,
        snapshot_price,
        size_position,
        submit_order,
        persist_execution,
    )
)


def chain_for(recommendation_id: str, app: Celery | None = None) -> chain:
    """The six steps for ``recommendation_id``, each with the failure errback.

    Only the last step's result is ever read: each step hands its payload to the next in
    the next one's message, so the first five store none in the result backend (each
    would be written, published and kept for a day, 10-30 KB for an option chain).

    Each step's ``argsrepr`` (what the task-sent and task-received events, Flower and
    the worker's log show as its arguments) is set here, once: the recommendation id.
    Left to Celery, it is a repr of the whole payload, rendered on every hop."""
    app = app or current_app
    first = (recommendation_id,)
    signatures = [app.signature(STEPS[0], args=first, argsrepr=repr(first))]
    signatures += [
        app.signature(name, argsrepr=payload_repr(recommendation_id)) for name in STEPS[1:]
    ]
    for signature in signatures[:-1]:
        signature.set(ignore_result=True)
    for signature in signatures:
        signature.link_error(app.signature(on_step_failure.name))
    return chain(*signatures)


def payload_repr(recommendation_id: str) -> str:
    """How a step's payload argument reads in events and logs: its first key, then ..."""
    return f"({{'recommendation_id': {recommendation_id!r}, ...}},)"


def dispatch_chain(recommendation_id: str) -> AsyncResult:
    """Send the six steps for ``recommendation_id`` (``chain_for``)."""
    return chain_for(recommendation_id).apply_async()


def send_and_mark(recommendation_id: str, store: Any) -> AsyncResult:
    """Send the chain, then mark the recommendation dispatched, as every sender does
    (fetch_chain writes nothing). A chain sent but never marked stays pending, where
    ``strikeflow recover`` finds it; a mark without a chain could not be told apart."""
    sent = dispatch_chain(recommendation_id)
    store.set_status(recommendation_id, RecommendationStatus.DISPATCHED)
    return sent


@shared_task(name="strikeflow.on_step_failure")
def on_step_failure(request: Any, exc: BaseException, traceback: Any) -> None:
    """Send the failed step's terminal record. A refusal was already logged once, by
    Celery ("raised expected", the step's ``throws``): here only at DEBUG. Anything else
    was logged at ERROR with its traceback; this line says it is being recorded."""
    rid = recommendation_id_of(request)
    message = f"{type(exc).__name__}: {exc}"
    task = getattr(request, "task", None)
    if rid is None:
        log.error("step %s failed with no recommendation id to record: %s", task, message)
        return
    kind = failure_kind(exc)
    level = logging.DEBUG if kind == "rejected" else logging.WARNING
    log.log(level, "step %s %s for %s: %s", task, kind, rid, message)
    record_failure.apply_async((rid, kind, f"{task}: {message}", explain_of(exc)))


def explain_of(exc: BaseException) -> dict[str, Any] | None:
    """What a refusal carries for the record, as JSON: DispatchRejected's explain (the
    selection report, sizing, risk check), or the broker's status, code and message."""
    explain = getattr(exc, "explain", None)
    if isinstance(explain, dict) and explain:
        return jsonable(explain)
    if isinstance(exc, OrderRejected):
        return {"broker": {"status": exc.status, "code": exc.code, "message": exc.message}}
    return None


@shared_task(name="strikeflow.record_failure", **STORE_RETRY)
def record_failure(
    recommendation_id: str, kind: str, message: str, explain: dict[str, Any] | None = None
) -> dict[str, Any]:
    ctx = bootstrap.runtime().context
    steps.record_failure(ctx, recommendation_id, kind, message, explain)
    return {"recommendation_id": recommendation_id, "status": kind}


@shared_task(name="strikeflow.dispatch", **EXPECTED, **STORE_RETRY)
def dispatch(recommendation_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """Send the chain of a stored recommendation, or store ``fields`` (ticker, action,
    instrument, strategy, confidence, reason) as a manual one first.

    A recommendation already terminal is not sent again; one already dispatched is
    (a duplicate chain is harmless: the client_order_id and the upsert make it so).
    """
    store = bootstrap.runtime().recommendations
    if recommendation_id is None:
        rec, _ = store.insert(manual_recommendation_from(fields))
    else:
        if fields:
            raise InvalidRecord(
                "fields", "give a recommendation_id or a new one's fields, not both"
            )
        rec = store.get(stored_recommendation_id(recommendation_id))
        if rec is None:
            raise InvalidRecord(
                "recommendation_id", f"names no stored recommendation: {recommendation_id!r}"
            )
    if rec.status.terminal:
        return {"recommendation_id": rec.id, "status": rec.status.value, "sent": False}
    sent = send_and_mark(rec.id, store)
    return {"recommendation_id": rec.id, "status": "dispatched", "sent": True, "chain": sent.id}
