"""The working store (``db.working_store``) on both dialects: a step written only forward,
the row following the replacement (latest venue id, limit as premium, replace count, the
ladder in its explanation), a cancel's cause and the figures kept beside it, and the
``replaced`` status revision 0012 admits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strikeflow.db.engine import engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.db.working_store import SqlWorkingDispatchStore
from strikeflow.domain.enums import ExecutionStatus
from strikeflow.domain.errors import InvalidRecord
from strikeflow.services.ports import WorkingStore
from tests.integration.record_factories import AT, option_execution, recommendation

CID = "sf-call-1"


@pytest.fixture
def store(db_url) -> SqlWorkingDispatchStore:
    RecommendationRepository(engine_for(db_url)).insert(recommendation())
    work = {"policy": {}, "client_order_id": CID, "replaces": 0, "steps": [{"step": 0}]}
    ExecutionRepository(engine_for(db_url)).insert(
        option_execution(
            CID,
            status=ExecutionStatus.ACCEPTED,
            filled_qty=Decimal(0),
            filled_avg_price=None,
            filled_at=None,
            premium_paid=Decimal("2.05"),
            broker_order_id="venue-0",
            explain_json={"work": work},
        )
    )
    return SqlWorkingDispatchStore(engine_for(db_url))


def step(n: int) -> dict:
    return {"step": n, "price": "2.07", "at": AT.isoformat(), "client_order_id": f"{CID}-w{n}"}


def test_a_step_is_written_once_and_the_row_follows_the_replacement(store):
    assert isinstance(store, WorkingStore)
    assert store.record_work_step(CID, step(1), "venue-1", Decimal("2.07"), replaces=1)
    assert not store.record_work_step(CID, step(1), "venue-1b", Decimal("2.08"), replaces=1)
    row = store.execution_by_client_order_id(CID)
    assert (row.broker_order_id, row.premium_paid) == ("venue-1", Decimal("2.07"))
    work = row.explain_json["work"]
    assert (work["replaces"], work["client_order_id"]) == (1, f"{CID}-w1")
    assert [s["step"] for s in work["steps"]] == [0, 1]
    assert store.work_columns(CID)["replaces"] == 1

    # A late report of the first order keeps the latest venue id.
    store.record_fill(CID, ExecutionStatus.ACCEPTED, Decimal(0), broker_order_id="venue-0")
    assert store.execution_by_client_order_id(CID).broker_order_id == "venue-1"


def test_a_cancel_cause_and_the_figures_live_beside_the_ladder(store):
    assert store.note_cancel(CID, "after working 3 step(s) to 2.09", AT)
    store.record_work_step(CID, {"step": 3, "outcome": "canceled after working"})
    figures = {
        "improvement": Decimal("6.0000"),
        "improvement_of_half_spread": Decimal("0.4000"),
        "slippage_vs_mid": Decimal("9.0000"),
    }
    store.record_work_figures(CID, figures)
    row = store.execution_by_client_order_id(CID)
    assert row.explain_json["cancel"]["cause"] == "after working 3 step(s) to 2.09"
    assert row.explain_json["work"]["steps"][-1]["step"] == 3
    assert row.explain_json["work"]["fill"]["improvement"] == "6.0000"
    columns = store.work_columns(CID)
    assert (columns["improvement"], columns["slippage_vs_mid"]) == (Decimal(6), Decimal(9))
    assert columns["improvement_of_half_spread"] == Decimal("0.4")


def test_replaced_is_a_final_status_of_a_row(store):
    replaced = store.record_fill(CID, ExecutionStatus.REPLACED, Decimal(0))
    assert replaced.status is ExecutionStatus.REPLACED
    after = store.record_fill(CID, ExecutionStatus.FILLED, Decimal(3), Decimal("2.07"))
    assert after.status is ExecutionStatus.REPLACED  # a final state is never left
    with pytest.raises(InvalidRecord):
        store.record_work_step("sf-nope", step(1), replaces=1)
