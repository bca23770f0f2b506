"""The chain's steps, one task each, so each retries on its own.

Reads from the venue retry on BrokerUnavailable (they change nothing). submit_order
retries only BrokerUnavailable, with the same client_order_id, and after its last
retry hands the order to the fallback policy (a simulated fill, or the failure).
persist_execution retries anything but a domain error: its upsert is idempotent and it
must not lose the record of an order that was placed. Every countdown stays far below
the broker's visibility timeout (workers.config.VISIBILITY_TIMEOUT_S = 600 s).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.domain.errors import BrokerUnavailable, DomainError, StoreUnavailable
from strikeflow.services import dispatch as steps
from strikeflow.services.dispatch_records import REFUSALS
from strikeflow.services.manual_signal import stored_recommendation_id

log = logging.getLogger(__name__)
Payload = dict[str, Any]

# Venue and database reads: 1, 2, 4, 8, 10 s (jittered down), then the step fails: a
# database that refuses connections for a few seconds must not fail a chain.
READ_RETRY = {
    "autoretry_for": (BrokerUnavailable, StoreUnavailable),
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "retry_jitter": True,
    "max_retries": 5,
}
# Orders: 1, 2, 4, 8, 16, 30 s at most (jittered down, < 61 s in all), then fall back
# (the venue) or fail (the database: submit_order reads it before sending anything).
ORDER_RETRY = {
    "autoretry_for": (BrokerUnavailable, StoreUnavailable),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 6,
}
# Database writes: any error but a domain refusal or a malformed argument (neither a bad
# record nor a payload of the wrong shape gets better by waiting).
STORE_RETRY = {
    "autoretry_for": (Exception,),
    "dont_autoretry_for": (DomainError, TypeError, KeyError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 8,
}


# A refusal (a risk limit, the kill switch, the venue's no, no eligible contract) is an
# outcome, not a fault: Celery logs a task raising one of ``throws`` once, at INFO and
# without a traceback ("raised expected"), and still calls the errback that records it.
# ERROR with a traceback is left to what nobody expected.
EXPECTED = {"throws": REFUSALS}


def _ctx() -> steps.DispatchContext:
    return bootstrap.runtime().context


@shared_task(name="strikeflow.fetch_chain", **EXPECTED, **READ_RETRY)
def fetch_chain(recommendation_id: str) -> Payload:
    return steps.fetch_chain(_ctx(), stored_recommendation_id(recommendation_id))


@shared_task(name="strikeflow.select_contract", **EXPECTED)
def select_contract(payload: Payload) -> Payload:
    return steps.select_contract(_ctx(), payload)


@shared_task(name="strikeflow.snapshot_price", **EXPECTED, **READ_RETRY)
def snapshot_price(payload: Payload) -> Payload:
    return steps.snapshot_price(_ctx(), payload)


@shared_task(name="strikeflow.size_position", **EXPECTED, **READ_RETRY)
def size_position(payload: Payload) -> Payload:
    return steps.size_position(_ctx(), payload)


@shared_task(
    bind=True,
    name="strikeflow.submit_order",
    acks_late=True,
    reject_on_worker_lost=False,
    **EXPECTED,
    **ORDER_RETRY,
)
def submit_order(self, payload: Payload) -> Payload:
    """An order the venue refuses is recorded, not raised (persist_execution writes it
    rejected): its one log line is this task's, at WARNING, in the venue's words."""
    rt = bootstrap.runtime()
    try:
        placed = steps.submit_order(rt.context, payload)
    except BrokerUnavailable as down:
        if self.request.retries < self.max_retries:
            raise  # autoretry: the same payload, so the same client_order_id
        intent = steps.order_intent(rt.context, payload)
        return steps.with_order(payload, rt.fallback.fall_back(intent, down))
    refusal = placed.get("refusal")
    if refusal is not None:
        log.warning("the venue refused the order: %s", refusal["error"])
    return placed


@shared_task(name="strikeflow.persist_execution", **EXPECTED, **STORE_RETRY)
def persist_execution(payload: Payload) -> Payload:
    return steps.persist_execution(_ctx(), payload)


@shared_task(name="strikeflow.reconcile_orders", **EXPECTED, **READ_RETRY)
def reconcile_orders(limit: int = 500) -> int:
    return steps.reconcile_orders(_ctx(), limit)
