"""The entry point (``strikeflow.dispatch``) and the failure path of every step.

Every step carries ``link_error → on_step_failure``. Celery calls an errback that takes
``(request, exc, traceback)`` inline, in the process where the step failed (for a
worker lost mid-task, its main process, which has no Runtime): so the errback only
classifies the failure and sends ``record_failure`` to the persistence queue, where the
write is retried like any other store write. Both tolerate running twice: a terminal
state is never overwritten.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.services import adoption, chain_sending, outcomes
from strikeflow.services.messages import recommendation_id_in
from strikeflow.tasks import chains
from strikeflow.tasks.pipeline import EXPECTED, STORE_RETRY

log = logging.getLogger(__name__)


def recommendation_id_of(request: Any) -> str | None:
    """The id a failed step worked for: its first argument, or that message's."""
    args = getattr(request, "args", None) or ()
    first = args[0] if args else (getattr(request, "kwargs", None) or {}).get("message")
    return recommendation_id_in(first)


@shared_task(name=chains.ON_STEP_FAILURE)
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
    if outcomes.superseded(exc):  # another run of the chain decides the outcome
        log.info("step %s of %s ends without a verdict: %s", task, rid, message)
        return
    kind = outcomes.failure_kind(exc)
    level = logging.DEBUG if kind == "rejected" else logging.WARNING
    log.log(level, "step %s %s for %s: %s", task, kind, rid, message)
    record_failure.apply_async((rid, kind, f"{task}: {message}", outcomes.explain_of(exc)))


@shared_task(name="strikeflow.record_failure", bind=True, **STORE_RETRY)
def record_failure(
    self: Any,
    recommendation_id: str,
    kind: str,
    message: str,
    explain: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """End the chain (``adoption.end_chain``): an order the venue holds for it is
    adopted, else the failure is recorded. A venue that cannot be asked is asked again
    within the retry budget; past it the failure is recorded saying so."""
    ctx = bootstrap.runtime().context
    end = functools.partial(adoption.end_chain, ctx, recommendation_id, kind, message, explain)
    try:
        adopted = end()
    except BrokerUnavailable as exc:
        if self.retry_countdown() is not None:
            raise self.retry(exc=exc) from exc
        adopted = end(venue_error=str(exc))
    return {"recommendation_id": recommendation_id, "status": "adopted" if adopted else kind}


@shared_task(name="strikeflow.dispatch", **EXPECTED, **STORE_RETRY)
def dispatch(recommendation_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """Send the chain of a stored recommendation, or store ``fields`` (ticker, action,
    instrument, strategy, confidence, reason) as a manual one first
    (``chain_sending.enter``)."""
    store = bootstrap.runtime().recommendations
    return chain_sending.enter(store, chains.dispatch_chain, recommendation_id, fields)
