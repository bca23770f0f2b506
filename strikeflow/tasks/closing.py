"""The closing chain's own steps and ``strikeflow.close``, the task that asks for a close.

``celery -A strikeflow.workers.app call strikeflow.close --kwargs '{"execution_id": 12}'``
closes what is left of execution 12; ``{"symbol": "SPY"}`` every entry held on SPY;
``"qty"`` less than all. Bad arguments are refused (InvalidRecord, never retried) before
anything is stored.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.domain.errors import InvalidRecord
from strikeflow.services import closing, closing_steps
from strikeflow.services.manual_signal import stored_recommendation_id
from strikeflow.services.messages import CloseQuoted, decode, encode
from strikeflow.tasks import chains
from strikeflow.tasks.pipeline import EXPECTED, READ_RETRY, STORE_RETRY, step

Json = dict[str, Any]


@step(chains.QUOTE_CLOSE, READ_RETRY)
def quote_close(recommendation_id: str) -> Json:
    rid = stored_recommendation_id(recommendation_id)
    return encode(closing_steps.quote_close(bootstrap.runtime().context, rid))


@step(chains.SIZE_CLOSE, READ_RETRY)
def size_close(message: Json) -> Json:
    ctx = bootstrap.runtime().context
    return encode(closing_steps.size_close(ctx, decode(CloseQuoted, message)))


@shared_task(name="strikeflow.close", **EXPECTED, **STORE_RETRY)
def close(
    execution_id: int | None = None,
    symbol: str | None = None,
    qty: str | int | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Close an entry (``execution_id``) or every entry held on ``symbol``, through the
    closing chain (``services.closing.request_close``)."""
    if (execution_id is None) == (symbol is None):
        raise InvalidRecord("target", "give execution_id or symbol, not both nor neither")
    rt = bootstrap.runtime()
    target = execution_id if execution_id is not None else symbol
    done = closing.request_close(
        rt.context.store, rt.recommendations, chains.dispatch_chain, target, qty, reason=reason
    )
    return {"closes": [c.to_json() for c in done]}
