"""Dispatch runs over the hand-written fakes, as the tests drive them: a recommendation
of XYZ at 100 with a listed chain, the steps in order, and between two steps the JSON hop
Celery puts between two tasks (``encode`` → ``json.dumps`` → ``json.loads`` → ``decode``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TypeVar

from strikeflow.domain.enums import Action, InstrumentType, RecommendationStatus, Right
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.services.dispatch_steps import (
    fetch_chain,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from strikeflow.services.messages import (
    ContractSelected,
    ExecutionRecorded,
    Message,
    PriceChecked,
    Reselection,
    SizedOrder,
    decode,
    encode,
)
from strikeflow.services.outcomes import persist_execution
from tests.integration.record_factories import recommendation
from tests.unit.factories import NOW, contract
from tests.unit.fakes_dispatch import FakeClock, ScriptedBroker, make_context

STRIKES = range(80, 121)
STOCK = InstrumentType.STOCK
M = TypeVar("M", bound=Message)


def listed(volume: int = 1_000, **overrides) -> list:
    """Calls and puts on XYZ, 0, 1 and 10 DTE, strikes 80-120."""
    return [
        contract(k, dte=dte, right=right, volume=volume, **overrides)
        for dte in (0, 1, 10)
        for right in (Right.CALL, Right.PUT)
        for k in STRIKES
    ]


def setup(contracts=None, rec_overrides=None, **ctx_kwargs):
    ctx, market, store, switch, broker = make_context(
        listed() if contracts is None else contracts, **ctx_kwargs
    )
    market.quote_stock("XYZ", "100")
    values = {
        "ticker": "XYZ",
        "created_at": NOW,
        "updated_at": NOW,
        "status": RecommendationStatus.DISPATCHED,  # as its sender marks it
        **(rec_overrides or {}),
    }
    rec = store.add(recommendation("rec-1", **values))
    return ctx, market, store, switch, broker, rec


def hop(message: M) -> M:
    """``message`` as the next task receives it: through Celery's JSON and back."""
    return decode(type(message), json.loads(json.dumps(encode(message))))


def reselect(ctx, reselection: Reselection) -> ContractSelected:
    """What the snapshot_price task replaces itself with after a move: fetch_chain with
    the recorded decision, then select_contract (each across the JSON hop)."""
    decision = hop(reselection)
    fetched = hop(fetch_chain(ctx, decision.recommendation_id, decision))
    return hop(select_contract(ctx, fetched))


def price(ctx, selected: ContractSelected) -> PriceChecked:
    """snapshot_price, following every Reselection it decides on as the task does."""
    checked = snapshot_price(ctx, selected)
    while isinstance(checked, Reselection):
        checked = snapshot_price(ctx, reselect(ctx, checked))
    return checked


def run_to_size(ctx, rec_id="rec-1") -> SizedOrder:
    selected = select_contract(ctx, hop(fetch_chain(ctx, rec_id)))
    return hop(size_position(ctx, hop(price(ctx, hop(selected)))))


def run_all(ctx, rec_id="rec-1") -> ExecutionRecorded:
    placed = submit_order(ctx, run_to_size(ctx, rec_id))
    return hop(persist_execution(ctx, hop(placed)))


def selection_writes(store) -> list[str]:
    """The recommendations whose selection report ``store`` is asked to keep, in order."""
    writes: list[str] = []
    keep = store.record_selection

    def record_selection(recommendation_id, report):
        writes.append(recommendation_id)
        keep(recommendation_id, report)

    store.record_selection = record_selection
    return writes


def keys_in(document) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(document, dict):
        return {*document, *(k for v in document.values() for k in keys_in(v))}
    if isinstance(document, list):
        return {k for v in document for k in keys_in(v)}
    return set()


def later(ctx, seconds: float = 2.0) -> None:
    """Let the next step run ``seconds`` after the previous one (past requote_after_s)."""
    ctx.now.at += timedelta(seconds=seconds)


def messages_of_runs() -> list[Message]:
    """Every kind of message, as the steps make them: an option trade re-selected once,
    a stock fallback with nothing in its window, a close, and an order the venue refused."""
    messages: list[Message] = []
    ctx, market, *_ = setup()
    fetched = fetch_chain(ctx, "rec-1")
    selected = select_contract(ctx, fetched)
    later(ctx)
    market.quote_stock("XYZ", "103")
    decision = snapshot_price(ctx, selected)
    again = select_contract(ctx, fetch_chain(ctx, "rec-1", decision))
    checked = snapshot_price(ctx, again)
    sized = size_position(ctx, checked)
    placed = submit_order(ctx, sized)
    recorded = persist_execution(ctx, placed)
    messages += [fetched, selected, decision, again, checked, sized, placed, recorded]

    tuesday = datetime(2026, 11, 17, 10, 45, tzinfo=NEW_YORK)
    fridays = [contract(k, dte=8, now=tuesday) for k in STRIKES]
    ctx, *_ = setup(fridays, clock=FakeClock(tuesday))
    fetched = fetch_chain(ctx, "rec-1")
    selected = select_contract(ctx, fetched)
    checked = snapshot_price(ctx, selected)
    messages += [fetched, selected, checked, size_position(ctx, checked)]

    ctx, _, store, _, broker, _ = setup(rec_overrides={"instrument_type": STOCK})
    run_all(ctx)  # rec-1 buys the shares the close sells: strikeflow sells only its own
    bearish = {"instrument_type": STOCK, "action": Action.SELL}
    store.add(recommendation("rec-2", ticker="XYZ", created_at=NOW, updated_at=NOW, **bearish))
    checked = snapshot_price(ctx, select_contract(ctx, fetch_chain(ctx, "rec-2")))
    messages.append(size_position(ctx, checked))

    ctx, _, _, _, broker, _ = setup()
    sized = run_to_size(ctx)
    ctx.broker = ScriptedBroker(broker, reject=True)
    refused = submit_order(ctx, sized)
    messages += [refused, persist_execution(ctx, refused)]
    return messages
