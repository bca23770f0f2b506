"""The adapter's submit against Alpaca's documented error replies, over HTTP through
alpaca-py, counting what reaches the venue: a duplicate is looked up, every other 4xx is
a refusal after exactly one POST, and only 429/5xx are worth a lookup and a retry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.domain.enums import Action
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.orders import OrderIntent, client_order_id
from tests.unit.alpaca_stub import StubVenue, order_json, stub_adapter, stub_venue

REPLIES = json.loads((Path(__file__).parents[1] / "data" / "alpaca_error_bodies.json").read_text())[
    "replies"
]
INTENT = OrderIntent(client_order_id("rec-refused"), "AAPL", Action.BUY, Decimal(1))


@pytest.fixture
def venue() -> Iterator[StubVenue]:
    with stub_venue() as stub:
        yield stub


@pytest.fixture
def adapter(venue) -> Iterator[AlpacaAdapter]:
    made = stub_adapter(venue.url)
    yield made
    made.close()


def by_kind(kind: str) -> list[dict]:
    return [reply for reply in REPLIES if reply["kind"] == kind]


def label(reply: dict) -> str:
    return f"{reply['status']}-{reply['body'][:40]}"


@pytest.mark.parametrize("reply", by_kind("rejected"), ids=label)
def test_a_refusal_is_final_after_one_post_and_no_lookup(venue, adapter, reply):
    venue.submit_reply = (reply["status"], reply["body"])
    venue.orders[INTENT.client_order_id] = order_json(INTENT.client_order_id)  # never asked
    with pytest.raises(OrderRejected) as refused:
        adapter.submit(INTENT)
    body = json.loads(reply["body"]) if reply["body"] else {}
    assert (refused.value.status, refused.value.code) == (reply["status"], body.get("code"))
    assert body.get("message", "") in refused.value.message
    assert (venue.posts, venue.lookups) == (1, 0)
    assert sum(venue.seen.values()) == 1


def test_a_validation_error_with_the_duplicates_code_is_not_looked_up(venue, adapter):
    venue.submit_reply = (422, '{"code":40010001,"message":"asset \\"AAPL\\" is not active"}')
    with pytest.raises(OrderRejected) as refused:
        adapter.submit(INTENT)
    assert (refused.value.status, refused.value.code) == (422, 40010001)
    assert refused.value.message == 'asset "AAPL" is not active'
    assert (venue.posts, venue.lookups) == (1, 0)


@pytest.mark.parametrize("reply", by_kind("duplicate"), ids=label)
def test_a_duplicate_is_looked_up_and_the_existing_order_returned(venue, adapter, reply):
    venue.submit_reply = (reply["status"], reply["body"])
    venue.orders[INTENT.client_order_id] = order_json(INTENT.client_order_id)
    order = adapter.submit(INTENT)
    assert order.client_order_id == INTENT.client_order_id
    assert order.id == "61e69015-8549-4bfd-b9c3-01e75843f47d"
    assert (venue.posts, venue.lookups) == (1, 1)
    assert venue.posted[0]["client_order_id"] == INTENT.client_order_id


def test_a_duplicate_not_found_yet_is_worth_a_retry(venue, adapter):
    venue.submit_reply = (422, '{"code":40010001,"message":"client_order_id must be unique"}')
    with pytest.raises(BrokerUnavailable, match="duplicate reported but not found"):
        adapter.submit(INTENT)
    assert (venue.posts, venue.lookups) == (1, 1)


@pytest.mark.parametrize("reply", by_kind("unavailable"), ids=label)
def test_an_unavailable_venue_is_looked_up_then_reported_transient(venue, adapter, reply):
    venue.submit_reply = (reply["status"], reply["body"])
    with pytest.raises(BrokerUnavailable) as down:
        adapter.submit(INTENT)
    assert down.value.transient
    assert (venue.posts, venue.lookups) == (1, 1)  # alpaca-py's own retry is off


def test_a_401_without_a_code_names_authentication_on_any_call(venue, adapter):
    venue.submit_reply = (401, '{"message": "unauthorized."}')
    with pytest.raises(OrderRejected) as refused:
        adapter.submit(INTENT)
    assert (refused.value.status, refused.value.code) == (401, None)
    assert "authentication failed" in str(refused.value)
    assert "unauthorized." in refused.value.message
    venue.other_reply = (401, "")
    with pytest.raises(OrderRejected, match="authentication failed") as empty:
        adapter.account()
    assert (empty.value.status, empty.value.code) == (401, None)
