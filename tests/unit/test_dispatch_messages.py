"""The dispatch messages on the wire: a message of another release is refused naming its
version, and every message crosses Celery's JSON hop equal to itself."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from strikeflow.domain.enums import Action, RecommendationStatus
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.dispatch_steps import (
    fetch_chain,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from strikeflow.services.messages import (
    SCHEMA,
    ChainFetched,
    ContractSelected,
    ExecutionRecorded,
    IncompatibleMessage,
    PlacedOrder,
    PriceChecked,
    Reselection,
    SizedOrder,
    decode,
    encode,
    recommendation_id_in,
)
from strikeflow.services.outcomes import failure_kind, persist_execution, record_failure
from tests.hypothesis_profiles import examples
from tests.integration.record_factories import recommendation
from tests.unit.dispatch_runs import STOCK, hop, messages_of_runs, run_all, setup
from tests.unit.factories import NOW
from tests.unit.message_strategies import MESSAGES

ROUND_TRIP_EXAMPLES = examples(300)


# -- messages of another version: refused, never read ------------------------------------

STEP_KINDS = (ChainFetched, ContractSelected, Reselection, PriceChecked, SizedOrder, PlacedOrder)
# What release 0.1.0's fetch_chain handed select_contract for a stock recommendation: an
# untyped payload with no "version" (schema 1).
VERSION_1_PAYLOAD = {
    "recommendation_id": "rec-1",
    "client_order_id": client_order_id_for("rec-1"),
    "ticker": "XYZ",
    "action": "BUY",
    "instrument": "STOCK",
    "strategy": "DAY_TRADE",
    "confidence": 0.82,
    "trade": "STOCK",
    "reselects": 0,
    "explain": {},
    "spot": "100.00",
    "spot_quote": {"symbol": "XYZ", "bid": "99.99", "ask": "100.01", "time": NOW.isoformat()},
    "quoted_at": NOW.isoformat(),
}


@pytest.mark.parametrize("kind", STEP_KINDS, ids=lambda kind: kind.__name__)
def test_a_payload_of_release_0_1_0_is_refused_naming_its_version(kind):
    with pytest.raises(IncompatibleMessage) as refused:
        decode(kind, json.loads(json.dumps(VERSION_1_PAYLOAD)))
    assert str(refused.value) == (
        f"a schema 1 {kind.__name__} message from another release:"
        f" this release reads schema {SCHEMA}"
    )


@pytest.mark.parametrize("kind", STEP_KINDS, ids=lambda kind: kind.__name__)
def test_a_message_of_a_later_version_is_refused_naming_its_version(kind):
    """Even in this release's shape: the version decides before the fields are read."""
    message = next(m for m in messages_of_runs() if type(m) is kind)
    later_release = {**encode(message), "version": 99}
    with pytest.raises(IncompatibleMessage, match=rf"^a schema 99 {kind.__name__} message"):
        decode(kind, later_release)


def test_a_message_of_this_version_but_another_kind_is_refused():
    ctx, *_ = setup()
    fetched = encode(fetch_chain(ctx, "rec-1"))
    with pytest.raises(IncompatibleMessage, match=r"^not a ContractSelected message: "):
        decode(ContractSelected, fetched)


def test_an_incompatible_message_ends_the_recommendation_rejected_with_its_version():
    """What the step's errback does with it: the recommendation failed, naming the version."""
    ctx, _, store, *_ = setup()
    with pytest.raises(IncompatibleMessage) as refused:
        decode(ContractSelected, VERSION_1_PAYLOAD)
    assert recommendation_id_in(VERSION_1_PAYLOAD) == "rec-1"
    assert failure_kind(refused.value) == "failed"
    record_failure(ctx, "rec-1", type(refused.value).__name__, str(refused.value))
    rec = store.recs["rec-1"]
    assert rec.status is RecommendationStatus.FAILED
    assert rec.status_reason.startswith("IncompatibleMessage: a schema 1 ContractSelected")


# -- the JSON hop: every message arrives equal to itself ----------------------------------


def test_every_message_of_a_run_survives_the_json_hop_equal_to_itself():
    messages = messages_of_runs()
    kinds = {type(m) for m in messages}
    assert kinds == {*STEP_KINDS, ExecutionRecorded}
    for message in messages:
        assert hop(message) == message, type(message).__name__
        assert message.version == SCHEMA


def test_a_close_records_its_sizing_the_same_after_the_json_hop():
    """The execution's explain is the same whether or not the sized order crossed Celery's
    JSON: a close's quantity (the whole shares held) is written as it was before the hop."""
    ctx, _, store, *_ = setup(rec_overrides={"instrument_type": STOCK})
    run_all(ctx)  # rec-1 buys the shares the close sells
    held = store.executions[client_order_id_for("rec-1")].filled_qty
    bearish = {"instrument_type": STOCK, "action": Action.SELL}
    store.add(recommendation("rec-2", ticker="XYZ", created_at=NOW, updated_at=NOW, **bearish))
    checked = snapshot_price(ctx, select_contract(ctx, fetch_chain(ctx, "rec-2")))
    sized = size_position(ctx, checked)
    shown = format(held.normalize(), "f")
    assert sized.notes.sizing.quantity == held
    assert sized.notes.record()["sizing"]["quantity"] == shown  # in process
    placed = hop(submit_order(ctx, hop(sized)))
    persist_execution(ctx, placed)
    row = store.executions[client_order_id_for("rec-2")]
    assert row.explain_json["sizing"]["quantity"] == shown  # after the hops
    assert encode(hop(sized)) == encode(sized)


@settings(max_examples=ROUND_TRIP_EXAMPLES)
@given(message=MESSAGES)
def test_any_message_survives_the_json_hop_equal_to_itself(message):
    arrived = hop(message)
    assert arrived == message
    assert type(arrived) is type(message)
