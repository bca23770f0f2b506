"""Broker access is not order access: forged task messages on a real worker.

Anyone who can publish to the broker can send ``strikeflow.submit_order`` or
``strikeflow.record_failure`` with any arguments. submit_order places only the order
that the recommendation's own sizing step decided and stored (``dispatch_steps.
refusal_of``), and a message that is not its decision ends no recommendation
(``ChainSuperseded``); record_failure ends only a recommendation whose chain is running
(``outcomes.record_failure``). Each forgery below reaches a real worker subprocess
(every pipeline queue, PostgreSQL, alpaca-py against the emulator): the venue receives
no order it did not decide, and no row goes back.

One fleet for the module; the scenes share it and each uses its own recommendations.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from celery.result import AsyncResult

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.records import Recommendation
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.services.messages import SizedOrder, decode, encode
from strikeflow.sim.serve import EmulatorOptions
from tests.integration.conftest import worker_dbs
from tests.integration.emulator import KEY, SECRET, EmulatorHandle, poll

MONDAY = datetime(2037, 11, 16, 10, 45, tzinfo=NEW_YORK)
DBS = worker_dbs()
WORKER = WorkerSpec(
    "sf-it-forged", ("marketdata", "dispatch", "orders", "persistence"), concurrency=2
)
DEADLINE_S = 30.0
PREPARE = ("fetch_chain", "select_contract", "snapshot_price", "size_position")
DISPATCHED, EXECUTED = RecommendationStatus.DISPATCHED, RecommendationStatus.EXECUTED


class Venue:
    """The fleet, the emulator and the database, as a sender with broker access sees them."""

    def __init__(self, fleet: Fleet, emulator: InProcessEmulator, url: str) -> None:
        self.fleet = fleet
        self.venue = EmulatorHandle(emulator.url)
        self.recommendations = RecommendationRepository(engine_for(url))
        self.executions = ExecutionRepository(engine_for(url))
        self._ids = itertools.count(1)

    def recommend(self, ticker: str) -> str:
        rid = f"forged-{ticker.lower()}-{next(self._ids)}"
        rec = manual_recommendation(ticker, "BUY", "STOCK", None, 0.8, "it", rid)
        self.recommendations.insert(rec)
        return rid

    def sized(self, rid: str) -> dict[str, Any]:
        """Marked dispatched (as its sender does), then the chain's first four steps on
        the worker: the SizedOrder message submit_order would get, its decision stored."""
        self.recommendations.set_status(rid, DISPATCHED)
        app = self.fleet.app
        steps = app.signature(f"strikeflow.{PREPARE[0]}", args=(rid,))
        for name in PREPARE[1:]:
            steps = steps | app.signature(f"strikeflow.{name}")
        return steps.apply_async().get(timeout=DEADLINE_S)

    def submit(self, message: dict[str, Any], errback: bool = False) -> AsyncResult:
        """submit_order alone, as ``celery call`` sends it (``errback``: with the chain's
        on_step_failure linked, as a forger copying a chain's message would)."""
        step = self.fleet.app.signature("strikeflow.submit_order", args=(message,))
        if errback:
            step.link_error(self.fleet.app.signature("strikeflow.on_step_failure"))
        return step.apply_async()

    def record_failure(self, rid: str) -> Any:
        sent = self.fleet.app.send_task(
            "strikeflow.record_failure", args=(rid, "failed", "forged: stop it")
        )
        return sent.get(timeout=DEADLINE_S)

    def refusal(self, result: AsyncResult) -> str:
        """The refusal a task ended in (it must end FAILURE)."""
        poll(lambda: result.state, lambda s: s in ("FAILURE", "SUCCESS"), DEADLINE_S)
        assert result.state == "FAILURE", (result.state, result.result)
        return str(result.result)

    def logged(self, text: str) -> bool:
        """Whether a worker's log holds ``text``."""
        logs = self.fleet.config.log_dir.glob("worker-*.log")
        return any(text in log.read_text(errors="replace") for log in logs)

    def orders_of(self, rid: str) -> list[dict]:
        cid = client_order_id_for(rid)
        return [o for o in self.venue.audit() if o["client_order_id"] == cid]

    def rec(self, rid: str) -> Recommendation:
        rec = self.recommendations.get(rid)
        assert rec is not None
        return rec


def forged(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``message`` with ``changes``; ``ticket`` changes go into its ticket."""
    sized = decode(SizedOrder, message)
    if "ticket" in changes:
        changes["ticket"] = sized.ticket.model_copy(update=changes["ticket"])
    return encode(sized.model_copy(update=changes))


@pytest.fixture(scope="module")
def venue(postgres_url, tmp_path_factory) -> Iterator[Venue]:
    DBS.flush()
    emulator = InProcessEmulator(
        EmulatorOptions(seed=42, start=MONDAY, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0)
    )
    emulator.start()
    config = FleetConfig(
        database_url=postgres_url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("fleet-logs"),
        api_key=KEY,
        secret_key=SECRET,
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([WORKER])
        yield Venue(fleet, emulator, postgres_url)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


def test_forged_submit_orders_reach_no_venue_and_the_decided_one_does(venue, capsys):
    msft, spy = venue.recommend("MSFT"), venue.recommend("SPY")
    sized_msft, sized_spy = venue.sized(msft), venue.sized(spy)
    qty = Decimal(sized_msft["quantity"])

    # The wrong size for a recommendation in flight.
    bigger = venue.submit(forged(sized_msft, quantity=qty * 10))
    refusal = venue.refusal(bigger)
    assert f"qty '{qty * 10:f}' (sized '{qty:f}')" in refusal, refusal
    # Another recommendation's order: SPY's decision sent under MSFT's id (and so MSFT's
    # client_order_id), then MSFT's under SPY's.
    for message, rid in ((sized_spy, msft), (sized_msft, spy)):
        swapped = forged(message, ticket={"recommendation_id": rid})
        refusal = venue.refusal(venue.submit(swapped))
        assert "symbol" in refusal, refusal
    # A recommendation no chain has sized: stored, never dispatched.
    pending = venue.recommend("AAPL")
    never = forged(sized_msft, ticket={"recommendation_id": pending, "ticker": "AAPL"})
    refusal = venue.refusal(venue.submit(never))
    assert "no order was sized" in refusal, refusal
    # A forgery with the chain's errback linked: refused, naming what differs, and it
    # ends nothing: a message that is not the decision is not the recommendation's run.
    linked = venue.refusal(venue.submit(forged(sized_spy, quantity=Decimal(1)), errback=True))
    assert "differs from the one sized" in linked
    poll(lambda: venue.logged(f"of {spy} ends without a verdict"), bool, DEADLINE_S)
    assert venue.rec(spy).status is DISPATCHED

    assert venue.venue.audit() == []  # nothing reached the venue
    assert venue.rec(msft).status is DISPATCHED
    assert venue.rec(pending).status is RecommendationStatus.PENDING
    assert venue.executions.for_recommendation(msft) == []

    # The order its sizing step decided goes out, once.
    for sized in (sized_msft, sized_spy):
        venue.submit(sized).get(timeout=DEADLINE_S)
    [order] = venue.orders_of(msft)
    assert Decimal(order["qty"]) == qty
    assert [o["client_order_id"] for o in venue.venue.audit()] == [
        client_order_id_for(msft),
        client_order_id_for(spy),
    ]
    alive = [w.alive() for w in venue.fleet.workers.values()]
    assert all(alive)
    with capsys.disabled():
        print(
            "\nforged submit_order: 5 forged (a size, two swapped ids, one never sized, one"
            " with its errback), 5 refused, none ending its recommendation, venue orders 0 from"
            " them; each decided order sent"
            f" once; duplicates 0; rows regressed 0; workers alive {len(alive)}"
        )


def test_forged_record_failures_change_nothing_the_chain_does_not_own(venue, capsys):
    executed = venue.recommend("MSFT")
    venue.fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": executed})
    done = poll(lambda: venue.rec(executed), lambda r: r.status.terminal, DEADLINE_S)
    assert done.status is EXECUTED, done.status_reason
    row = venue.executions.by_client_order_id(client_order_id_for(executed))
    pending = venue.recommend("QQQ")  # stored, never dispatched
    before = {rid: venue.rec(rid) for rid in (executed, pending)}

    for rid in (executed, pending, "forged-unknown"):
        venue.record_failure(rid)

    assert {rid: venue.rec(rid) for rid in before} == before
    assert venue.recommendations.get("forged-unknown") is None
    assert venue.executions.by_client_order_id(client_order_id_for(executed)) == row
    # A forged submit for the executed one: the recorded order stands, nothing is sent.
    [order] = venue.orders_of(executed)
    ticket = {
        "recommendation_id": executed,
        "ticker": "MSFT",
        "action": "BUY",
        "instrument": "STOCK",
        "strategy": None,
        "confidence": 0.8,
    }
    sized = {"ticket": ticket, "trade": "STOCK", "quantity": "999", "order_cost": "1"}
    venue.submit(encode(SizedOrder.model_validate(sized))).get(timeout=DEADLINE_S)
    assert [o["id"] for o in venue.orders_of(executed)] == [order["id"]]
    assert venue.executions.by_client_order_id(client_order_id_for(executed)) == row
    assert venue.rec(executed) == before[executed]
    alive = [w.alive() for w in venue.fleet.workers.values()]
    assert all(alive)
    with capsys.disabled():
        print(
            "\nforged record_failure: 3 forged (executed, never dispatched, unknown), rows"
            " changed 0; a forged submit for the executed one: orders 1, duplicates 0;"
            f" workers alive {len(alive)}"
        )
