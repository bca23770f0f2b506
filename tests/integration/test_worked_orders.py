"""Worked option entries end to end (STRIKEFLOW_OPTION_ORDER_PRICING=worked): real worker
subprocesses, real PostgreSQL, real alpaca-py against the emulator, whose simulated clock
stands still unless a test moves it, so that an order fills only when the test lets time
pass (its seeded inside-spread model, or a quote crossing the limit).

A rules file makes the ladders short: three steps 2 s apart and a 3 s hold (wall time,
the Celery countdowns); a day trade is never stopped by a move, a swing trade by any move;
a day trade's exit walks two steps from the mid to the bid, then sells at the bid.
Everything waits by polling with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from strikeflow.cli.ladder_view import ladder_lines
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.working_store import WorkRepository
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig
from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus
from strikeflow.domain.orders import worked_client_order_id
from strikeflow.domain.records import Execution
from strikeflow.services.closing_ids import order_id_of
from tests.integration.emulator import KEY, SECRET
from tests.integration.test_pipeline import (
    DBS,
    DEADLINE_S,
    ORDERS,
    PIPELINE,
    Pipeline,
    emulator_options,
)

RULES = """
[working.day_trade.entry]
start_toward_far = 0
steps = 3
interval_s = 2
final_toward_far = 1
max_slippage_pct = "off"
hold_s = 3
end = "cancel"
max_move_pct = "off"

[working.day_trade.exit]
start_toward_far = 0
steps = 2
interval_s = 2
final_toward_far = 1
max_slippage_pct = "off"
hold_s = 2
end = "marketable"
max_move_pct = "off"

[working.swing_trade.entry]
start_toward_far = 0
steps = 3
interval_s = 2
final_toward_far = 1
max_slippage_pct = "off"
hold_s = 3
end = "cancel"
max_move_pct = 0.01
"""
STILL = {"partial_fill_rate": 0.0, "inside_fill_rate": 0.0}  # nothing fills inside the spread


@pytest.fixture(scope="module")
def worked_fleet(postgres_url, tmp_path_factory) -> Iterator[Pipeline]:
    DBS.flush()
    rules = tmp_path_factory.mktemp("worked-rules") / "rules.toml"
    rules.write_text(RULES)
    emulator = InProcessEmulator(emulator_options(**STILL))
    emulator.start()
    config = FleetConfig(
        database_url=postgres_url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("worked-logs"),
        api_key=KEY,
        secret_key=SECRET,
        env={
            "STRIKEFLOW_RETRY_DEADLINE_S": "2",
            "STRIKEFLOW_OPTION_ORDER_PRICING": "worked",
            "STRIKEFLOW_RULES_FILE": str(rules),
        },
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([PIPELINE, ORDERS])
        yield WorkedPipeline(fleet, emulator, postgres_url)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


def started(pipeline: Pipeline, strategy: str = "day_trade", **venue) -> tuple[str, Execution]:
    """A fresh emulator (``venue``: its fill model), and an SPY call entry placed and
    persisted: resting at its ladder's first price."""
    pipeline.reset(emulator_options(**{**STILL, **venue}))
    rid = pipeline.recommend("SPY", "BUY", "CALL", strategy)
    pipeline.dispatch(rid)
    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    return rid, pipeline.execution(rid)


def unfilled(pipeline: Pipeline, rid: str):
    """The recommendation once the venue's final word made it unfilled (it follows the
    row's write, in its own transaction)."""
    return pipeline._poll(
        lambda: pipeline.recommendations.get(rid),
        lambda r: r.status is RecommendationStatus.UNFILLED,
    )


def work(row: Execution | None) -> dict:
    return {} if row is None else row.explain_json.get("work", {})


def replaced(pipeline: Pipeline, rid: str, count: int) -> Execution:
    return pipeline._poll(
        lambda: pipeline.execution(rid), lambda e: work(e).get("replaces", 0) >= count
    )


def orders_of(pipeline: Pipeline, entry_cid: str) -> list[dict]:
    """The venue's every order of the entry (its audit: acceptance order)."""
    reply = pipeline.venue.session.get(f"{pipeline.emulator.url}/_sim/orders", timeout=10)
    reply.raise_for_status()
    return [o for o in reply.json() if o["client_order_id"].startswith(entry_cid)]


def open_orders(pipeline: Pipeline) -> list[dict]:
    url = f"{pipeline.emulator.url}/v2/orders?status=open"
    reply = pipeline.venue.session.get(url, timeout=10)
    reply.raise_for_status()
    return reply.json()


def settled(pipeline: Pipeline, rid: str, ready) -> Execution:
    """The row once ``ready``, reconcile_orders sent meanwhile (the clock left alone)."""

    def reconcile_and_read() -> Execution | None:
        pipeline.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
        return pipeline.execution(rid)

    return pipeline._poll(reconcile_and_read, lambda e: e is not None and ready(e))


class WorkedPipeline(Pipeline):
    def trading_order(self, client_order_id: str) -> dict:
        """The venue's order under ``client_order_id``, as alpaca-py reads it."""
        url = f"{self.emulator.url}/v2/orders:by_client_order_id"
        reply = self.venue.session.get(url, params={"client_order_id": client_order_id})
        reply.raise_for_status()
        return reply.json()


@pytest.fixture
def pipeline(worked_fleet) -> Pipeline:
    return worked_fleet


def test_a_ladder_that_ends_canceled_leaves_its_recommendation_unfilled(pipeline):
    rid, entry = started(pipeline)
    cid = entry.client_order_id
    assert work(entry)["steps"][0]["outcome"] == "placed"
    row = settled(pipeline, rid, lambda e: e.status is ExecutionStatus.CANCELED)

    rec = unfilled(pipeline, rid)
    assert rec.status_reason.startswith("canceled after working 3 step(s) to ")
    assert rec.status_reason.endswith(f"unfilled (0 of {int(row.quantity)} filled)")
    chain = orders_of(pipeline, cid)
    assert [o["client_order_id"] for o in chain] == [
        cid,
        worked_client_order_id(cid, 1),
        worked_client_order_id(cid, 2),
    ]
    assert [o.get("replaces") for o in chain[1:]] == [chain[0]["id"], chain[1]["id"]]
    prices = [Decimal(o["limit_price"]) for o in chain]
    assert prices == sorted(prices)  # only toward the far side
    assert row.broker_order_id == chain[-1]["id"]
    assert row.client_order_id == cid
    assert [s["outcome"] for s in work(row)["steps"]][-1].startswith("canceled after working")
    assert open_orders(pipeline) == []

    # A step delivered again, after the work: nothing is replaced twice.
    again = pipeline.fleet.app.send_task("strikeflow.work_order", args=(rid, 1))
    assert again.get(timeout=DEADLINE_S)["outcome"] == "step 1 was worked already"
    assert len(orders_of(pipeline, cid)) == 3


def test_a_ladder_that_fills_on_its_second_replace(pipeline):
    rid, entry = started(pipeline, inside_fill_rate=1.0)
    cid = entry.client_order_id
    replaced(pipeline, rid, 2)  # resting at the far side at decision, no time passed
    pipeline.venue.advance(seconds=5)  # the venue works it now

    row = settled(pipeline, rid, lambda e: e.status is ExecutionStatus.FILLED)

    chain = orders_of(pipeline, cid)
    assert len(chain) == 3
    assert row.broker_order_id == chain[-1]["id"]
    assert row.filled_qty == row.quantity
    assert row.filled_avg_price <= Decimal(chain[-1]["limit_price"])
    columns = WorkRepository(engine_for(pipeline.url)).work_columns(cid)
    decision = work(row)["decision"]
    per_unit = Decimal(decision["ask"]) - row.filled_avg_price
    assert columns["replaces"] == 2
    assert columns["improvement"] == per_unit * row.filled_qty * 100
    assert columns["slippage_vs_mid"] is not None
    assert pipeline.recommendations.get(rid).status is RecommendationStatus.EXECUTED
    ladder = dict(ladder_lines(row))  # what `strikeflow explain` prints of the work
    assert [label for label in ladder if label.startswith("step ")] == [
        "step 0",
        "step 1",
        "step 2",
    ]
    assert ladder["replaces"] == "2"
    assert "against the far side" in ladder["improvement"]


def test_a_partial_fill_then_a_replace_for_the_rest(pipeline):
    rid, entry = started(pipeline, inside_fill_rate=1.0, partial_fill_rate=1.0)
    cid = entry.client_order_id

    def first_order() -> dict:
        pipeline.venue.advance(seconds=1)  # a second at a time, until part of it fills
        return pipeline.trading_order(cid)

    first = pipeline._poll(first_order, lambda o: Decimal(o["filled_qty"]) > 0)
    assert first["status"] == "partially_filled", first  # the seeded venue: part of it
    pipeline._poll(lambda: pipeline.execution(rid), lambda e: work(e).get("replaces", 0) >= 1)

    (_, rest, *_) = orders_of(pipeline, cid)
    assert Decimal(rest["qty"]) == entry.quantity  # the new total: it works what is left
    replacing = pipeline.trading_order(rest["client_order_id"])
    assert Decimal(replacing["filled_qty"]) >= Decimal(first["filled_qty"])  # carried on
    final = settled(pipeline, rid, lambda e: e.status.value in ("filled", "canceled"))
    assert final.filled_qty >= Decimal(first["filled_qty"])
    rec = pipeline._poll(
        lambda: pipeline.recommendations.get(rid),
        lambda r: final.status is ExecutionStatus.FILLED or r.status_reason is not None,
    )
    assert rec.status is RecommendationStatus.EXECUTED
    if final.status is ExecutionStatus.CANCELED:
        assert "filled; the rest canceled after working" in rec.status_reason


def test_a_market_that_moves_cancels_the_work(pipeline):
    rid, entry = started(pipeline, strategy="swing_trade")
    pipeline.venue.advance(seconds=60)  # any move is too far for a swing trade here
    row = settled(pipeline, rid, lambda e: e.status is ExecutionStatus.CANCELED)
    rec = unfilled(pipeline, rid)
    assert "as the market moved: the mid moved from" in rec.status_reason
    assert len(orders_of(pipeline, entry.client_order_id)) == 1  # never replaced
    assert work(row)["replaces"] == 0


def test_a_close_is_worked_from_the_mid_to_a_marketable_end_and_realizes_its_pnl(pipeline):
    rid, _ = started(pipeline, inside_fill_rate=1.0)
    pipeline.venue.advance(seconds=5)  # the entry's ladder fills inside the spread
    entry = settled(pipeline, rid, lambda e: e.status is ExecutionStatus.FILLED)

    pipeline.fleet.app.send_task("strikeflow.close", kwargs={"execution_id": entry.id}).get(
        timeout=DEADLINE_S
    )
    close_rid = f"close-{entry.id}-1"
    close_cid = order_id_of(close_rid)
    # the clock stands still: the close rests while its steps walk it down, then ends
    # at the bid, still resting
    worked = pipeline._poll(
        lambda: pipeline.executions.by_client_order_id(close_cid),
        lambda e: e is not None and len(work(e).get("steps", [])) >= 3,
    )
    chain = orders_of(pipeline, close_cid)
    assert [o["side"] for o in chain] == ["sell"] * 3
    limits = [Decimal(o["limit_price"]) for o in chain]
    assert limits == sorted(limits, reverse=True)  # never less aggressive than before
    decision = work(worked)["decision"]
    mid = (Decimal(decision["bid"]) + Decimal(decision["ask"])) / 2
    assert limits[0] >= mid - Decimal("0.01")  # the mid, on the tick
    assert work(worked)["policy"]["end"] == "marketable"

    pipeline.venue.advance(seconds=5)  # now it fills
    close = pipeline._poll(
        lambda: reconciled(pipeline, close_cid), lambda e: e.status is ExecutionStatus.FILLED
    )
    assert close.closes_execution_id == entry.id
    assert close.filled_qty == entry.filled_qty
    assert close.realized_pnl is not None
    assert open_orders(pipeline) == []  # nothing left resting for the entry


def reconciled(pipeline: Pipeline, client_order_id: str) -> Execution | None:
    pipeline.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
    return pipeline.executions.by_client_order_id(client_order_id)
