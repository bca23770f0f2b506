"""The dispatch pipeline as plain functions: what each Celery task of the chain calls.

``fetch_chain → select_contract → snapshot_price → size_position → submit_order →
persist_execution``, with ``record_failure`` as every step's errback and
``reconcile_orders`` on a beat. Tasks pass the recommendation id to the first step and
each step's returned JSON payload to the next.

Errors the task layer routes:
- ``DispatchRejected``, ``OrderRejected``: terminal, straight to ``record_failure``;
- ``BrokerUnavailable``: retry the same step (submit_order keeps its client_order_id);
  after the last retry of submit_order, a task may hand ``order_intent(ctx, payload)`` to
  the fallback broker and continue with ``with_order(payload, simulated_order)``.

Risk checks run inside ``size_position``; the kill switch is checked there and again in
``submit_order``, the last moment before anything is sent.
"""

from __future__ import annotations

from strikeflow.services.dispatch_policy import (
    DispatchContext,
    DispatchPolicy,
    client_order_id_for,
)
from strikeflow.services.dispatch_records import (
    build_execution,
    persist_execution,
    reconcile_orders,
    record_failure,
)
from strikeflow.services.dispatch_steps import (
    fetch_chain,
    order_intent,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
    with_order,
)

__all__ = [
    "DispatchContext",
    "DispatchPolicy",
    "build_execution",
    "client_order_id_for",
    "fetch_chain",
    "order_intent",
    "persist_execution",
    "reconcile_orders",
    "record_failure",
    "select_contract",
    "size_position",
    "snapshot_price",
    "submit_order",
    "with_order",
]
