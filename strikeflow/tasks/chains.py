"""The chain of steps one recommendation travels, as Celery signatures.

Built by name (the tasks register themselves in ``tasks.pipeline``), so the step that
re-selects after a price move can send the first steps again from inside the chain.
Every step carries ``link_error → on_step_failure`` (``tasks.entry``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, chain, current_app
from celery.result import AsyncResult

from strikeflow.services.closing_ids import is_close

FETCH_CHAIN = "strikeflow.fetch_chain"
SELECT_CONTRACT = "strikeflow.select_contract"
SNAPSHOT_PRICE = "strikeflow.snapshot_price"
SIZE_POSITION = "strikeflow.size_position"
SUBMIT_ORDER = "strikeflow.submit_order"
PERSIST_EXECUTION = "strikeflow.persist_execution"
ON_STEP_FAILURE = "strikeflow.on_step_failure"
STEPS = (
    FETCH_CHAIN,
    SELECT_CONTRACT,
    SNAPSHOT_PRICE,
    SIZE_POSITION,
    SUBMIT_ORDER,
    PERSIST_EXECUTION,
)
# What snapshot_price sends again after the underlying moved (the rest follow as before).
RESELECTION_STEPS = STEPS[:3]
QUOTE_CLOSE = "strikeflow.quote_close"
SIZE_CLOSE = "strikeflow.size_close"
# A close: its own quote and size, then the entry's submit and persist.
CLOSE_STEPS = (QUOTE_CLOSE, SIZE_CLOSE, SUBMIT_ORDER, PERSIST_EXECUTION)


def chain_for(recommendation_id: str, app: Celery | None = None) -> chain:
    """The six steps for ``recommendation_id``, each with the failure errback.

    Only the last step's result is ever read: each step hands its message to the next in
    the next one's task message, so the first five store none in the result backend
    (each would be written, published and kept for a day, 10-30 KB for an option chain).
    """
    return chain(*signatures(recommendation_id, STEPS, app=app, last_stores_result=True))


def chain_for_close(recommendation_id: str, app: Celery | None = None) -> chain:
    """The closing chain of a close recommendation (``services.closing``): quote_close →
    size_close → submit_order → persist_execution, each with the failure errback."""
    return chain(*signatures(recommendation_id, CLOSE_STEPS, app=app, last_stores_result=True))


def reselection_chain(
    recommendation_id: str, reselection: dict[str, Any], app: Celery | None = None
) -> chain:
    """fetch_chain → select_contract → snapshot_price again, fetch_chain given the
    recorded reselection; ``Task.replace`` appends the rest of the running chain and
    links the replaced step's errback to each of these (so they carry none of their own:
    a failure is recorded once)."""
    sigs = signatures(
        recommendation_id, RESELECTION_STEPS, app=app, last_stores_result=False, errback=False
    )
    sigs[0].kwargs["reselection"] = reselection
    return chain(*sigs)


def signatures(
    recommendation_id: str,
    names: tuple[str, ...],
    *,
    app: Celery | None,
    last_stores_result: bool,
    errback: bool = True,
) -> list[Any]:
    """Each step's ``argsrepr`` (what the task events, Flower and the worker's log show
    as its arguments) is set here, once: the recommendation id. Left to Celery, it is a
    repr of the whole message, rendered on every hop."""
    app = app or current_app
    first = (recommendation_id,)
    sigs = [app.signature(names[0], args=first, kwargs={}, argsrepr=repr(first))]
    sigs += [app.signature(name, argsrepr=message_repr(recommendation_id)) for name in names[1:]]
    for sig in sigs[:-1] if last_stores_result else sigs:
        sig.set(ignore_result=True)
    for sig in sigs if errback else ():
        sig.link_error(app.signature(ON_STEP_FAILURE))
    return sigs


def message_repr(recommendation_id: str) -> str:
    """How a step's message argument reads in events and logs: its recommendation, then ..."""
    return f"({{'recommendation_id': {recommendation_id!r}, ...}},)"


def dispatch_chain(recommendation_id: str) -> AsyncResult:
    """Send the chain of ``recommendation_id``: the six steps of an entry (``chain_for``),
    or a close's (``chain_for_close``), so every sender (the entry task, recovery, the
    stuck sweep) sends a close the way it must travel."""
    if is_close(recommendation_id):
        return chain_for_close(recommendation_id).apply_async()
    return chain_for(recommendation_id).apply_async()
