"""recover() over the dispatch fakes: stale recommendations reach their chain or state."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.records import RecommendationStatus
from strikeflow.services.dispatch import (
    client_order_id_for,
    fetch_chain,
    persist_execution,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from strikeflow.services.recovery import recover
from tests.integration.records import recommendation
from tests.unit.factories import NOW
from tests.unit.fakes_dispatch import make_context
from tests.unit.test_dispatch_steps import listed

LATER = NOW + timedelta(minutes=10)


class Pending:
    """The one read recover() needs, over the fake store's recommendations."""

    def __init__(self, store) -> None:
        self.store = store

    def pending(self, limit: int = 1_000):
        active = [r for r in self.store.recs.values() if not r.status.terminal]
        return sorted(active, key=lambda r: r.created_at)[:limit]


class Chains:
    """send_chain: runs the six steps in-process, as a redelivered chain would."""

    def __init__(self, ctx) -> None:
        self.ctx, self.sent = ctx, []

    def __call__(self, rid: str) -> None:
        self.sent.append(rid)
        payload = fetch_chain(self.ctx, rid)
        for step in (select_contract, snapshot_price, size_position, submit_order):
            payload = json.loads(json.dumps(step(self.ctx, payload)))
        persist_execution(self.ctx, payload)


def world(*rids: str, status=RecommendationStatus.DISPATCHED, at=NOW):
    ctx, market, store, _switch, broker = make_context(listed())
    market.quote_stock("XYZ", "100")
    for rid in rids:
        rec = recommendation(rid, ticker="XYZ", created_at=at, updated_at=at)
        store.add(replace(rec, status=status))
    return ctx, store, broker, Chains(ctx)


def test_lost_chains_are_sent_again_and_end_terminal():
    ctx, store, _broker, chains = world("r-1", "r-2")
    report = recover(ctx, Pending(store), chains, min_age_s=60, now=LATER)
    assert report.redriven == ["r-1", "r-2"]
    assert chains.sent == ["r-1", "r-2"]
    assert {store.recs[r].status for r in ("r-1", "r-2")} == {RecommendationStatus.EXECUTED}
    assert len(store.executions) == 2


def test_a_pending_recommendation_is_marked_dispatched_before_its_chain():
    ctx, store, _broker, _chains = world("r-1", status=RecommendationStatus.PENDING)
    seen = []
    recover(ctx, Pending(store), lambda rid: seen.append(store.recs[rid].status), now=LATER)
    assert seen == [RecommendationStatus.DISPATCHED]


def test_an_order_the_venue_accepted_without_a_row_is_adopted_not_placed_again():
    ctx, store, broker, chains = world("r-1")
    # The crash: submit_order placed the order, the worker died before persist_execution.
    payload = fetch_chain(ctx, "r-1")
    for step in (select_contract, snapshot_price, size_position):
        payload = json.loads(json.dumps(step(ctx, payload)))
    placed = submit_order(ctx, payload)["order"]
    assert store.executions == {}

    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.adopted == ["r-1"]
    assert report.redriven == []
    row = store.executions[client_order_id_for("r-1")]
    assert row.broker_order_id == placed["id"]
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED
    assert repr(broker) == "SimulatedBroker(orders=1, reason='unit test')"


def test_a_row_without_its_status_settles_without_a_chain():
    ctx, store, _broker, chains = world("r-1")
    Chains(ctx)("r-1")
    store.recs["r-1"] = replace(store.recs["r-1"], status=RecommendationStatus.DISPATCHED)
    chains.sent.clear()
    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.settled == ["r-1"]
    assert chains.sent == []
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED


def test_recent_recommendations_are_left_to_their_chain():
    ctx, store, _broker, chains = world("r-1")
    report = recover(ctx, Pending(store), chains, min_age_s=60, now=NOW + timedelta(seconds=30))
    assert report.in_flight == 1
    assert chains.sent == []
    assert store.recs["r-1"].status is RecommendationStatus.DISPATCHED


def test_terminal_recommendations_are_not_touched():
    ctx, store, _broker, chains = world("r-1", status=RecommendationStatus.REJECTED)
    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.to_json() == {
        "reconciled": 0, "settled": [], "adopted": [], "redriven": [], "waiting": 0,
        "unreachable": [],
        "in_flight": 0,
    }  # fmt: skip
    assert chains.sent == []


def test_without_redrive_only_orders_at_the_venue_get_their_chain():
    ctx, store, _broker, chains = world("r-1", "r-2")
    payload = fetch_chain(ctx, "r-1")
    for step in (select_contract, snapshot_price, size_position, submit_order):
        payload = json.loads(json.dumps(step(ctx, payload)))
    report = recover(ctx, Pending(store), chains, redrive=False, now=LATER)
    assert report.adopted == ["r-1"]
    assert report.waiting == 1
    assert chains.sent == ["r-1"]
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED
    assert store.recs["r-2"].status is RecommendationStatus.DISPATCHED


class Unreachable:
    """A venue that cannot be asked: every call is BrokerUnavailable."""

    def __getattr__(self, name: str):
        def down(*_args, **_kwargs):
            raise BrokerUnavailable(name, "connection refused", None)

        return down


def test_a_venue_that_cannot_be_asked_leaves_the_recommendation_for_the_next_run():
    ctx, store, _broker, chains = world("r-1")
    ctx.broker = Unreachable()
    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.unreachable == ["r-1"]
    assert chains.sent == []
    assert store.recs["r-1"].status is RecommendationStatus.DISPATCHED
