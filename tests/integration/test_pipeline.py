"""The dispatch pipeline end to end: real worker subprocesses on the local Redis (this
module's own db numbers), real PostgreSQL, real alpaca-py against the emulator.

One fleet per module (strikeflow.devfleet); every test gets a fresh emulator on the same
port (a new book, clock and audit), empty tables and the kill switch off. Simulated time
starts on a Monday morning (see MONDAY): SPY and QQQ list daily expirations, AAPL only
Fridays, so an AAPL day trade has no contract in its 0–1 DTE window. Everything waits by
polling with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
import requests
from celery.result import AsyncResult

from strikeflow.app_state.in_redis import RedisKillSwitch
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.reports import ReportQueries
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from strikeflow.domain.enums import ExecutionMode, ExecutionStatus, RecommendationStatus
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.services.messages import SizedOrder, decode
from strikeflow.sim.serve import EmulatorOptions
from tests.integration.conftest import empty_tables, worker_dbs
from tests.integration.emulator import KEY, SECRET, EmulatorHandle, poll

# A Monday far enough ahead that its expirations are "today or later" for the view
# active_options_positions, which judges expiry by the database's wall-clock date.
MONDAY = datetime(2037, 11, 16, 10, 45, tzinfo=NEW_YORK)
DBS = worker_dbs()
PIPELINE = WorkerSpec("sf-it-pipeline", ("marketdata", "dispatch", "persistence"), concurrency=2)
ORDERS = WorkerSpec("sf-it-orders", ("orders",), concurrency=2)
DEADLINE_S = 30.0
OPTION_COLUMNS = (
    "strike_price", "expiration_date", "contracts", "premium_paid", "delta", "gamma",
    "theta", "vega", "implied_volatility", "option_symbol", "strategy_type",
)  # fmt: skip
PREPARE = ("fetch_chain", "select_contract", "snapshot_price", "size_position")


def emulator_options(**overrides) -> EmulatorOptions:
    return EmulatorOptions(
        seed=42, start=MONDAY, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0, **overrides
    )


class Pipeline:
    """The fleet, the emulator and the database, driven as a user and a worker would."""

    def __init__(self, fleet: Fleet, emulator: InProcessEmulator, url: str) -> None:
        self.fleet, self.emulator, self.url = fleet, emulator, url
        self.venue = EmulatorHandle(emulator.url)
        self.recommendations = RecommendationRepository(engine_for(url))
        self.executions = ExecutionRepository(engine_for(url))
        self.kill_switch = RedisKillSwitch.from_url(DBS.url(DBS.app))
        self._ids = itertools.count(1)

    def reset(self, options: EmulatorOptions | None = None) -> None:
        self.emulator.restart(options or emulator_options())
        empty_tables(self.url)
        self.kill_switch.turn_off()

    def recommend(self, ticker: str, action: str, instrument: str, strategy: str | None) -> str:
        rid = f"it-{ticker.lower()}-{instrument.lower()}-{next(self._ids)}"
        rec = manual_recommendation(ticker, action, instrument, strategy, 0.8, "it", rid)
        self.recommendations.insert(rec)
        return rid

    def dispatch(self, rid: str) -> None:
        """What ``celery call strikeflow.dispatch`` does: the entry task sends the chain."""
        self.fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})

    def prepare(self, rid: str) -> dict:
        """The chain's first four steps on the workers: the SizedOrder message (encoded)
        submit_order gets. The recommendation is marked dispatched first, as every
        sender marks it: a failure is recorded only on a chain in flight."""
        self.recommendations.set_status(rid, RecommendationStatus.DISPATCHED)
        app = self.fleet.app
        steps = app.signature(f"strikeflow.{PREPARE[0]}", args=(rid,))
        for name in PREPARE[1:]:
            steps = steps | app.signature(f"strikeflow.{name}")
        sized = steps.apply_async().get(timeout=DEADLINE_S)
        decode(SizedOrder, sized)  # what the workers hand on, as this release reads it
        return sized

    def send_tail(self, message: dict) -> AsyncResult:
        """submit_order → persist_execution, with the errback, as the chain sends them."""
        app = self.fleet.app
        tail = [
            app.signature("strikeflow.submit_order", args=(message,)),
            app.signature("strikeflow.persist_execution"),
        ]
        for step in tail:
            step.link_error(app.signature("strikeflow.on_step_failure"))
        return (tail[0] | tail[1]).apply_async()

    def terminal(self, rid: str) -> Recommendation:
        return self._poll(lambda: self.recommendations.get(rid), lambda r: r.status.terminal)

    def execution(self, rid: str) -> Execution | None:
        return self.executions.by_client_order_id(client_order_id_for(rid))

    def fill(self, rid: str) -> Execution:
        """Let simulated time pass, 5 minutes a step, until the venue fills (a marketable limit
        rests while the ask is above it) and reconcile_orders has recorded the fill."""

        def advance_and_reconcile() -> Execution | None:
            self.venue.advance(seconds=300)
            self.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
            return self.execution(rid)

        return self._poll(
            advance_and_reconcile, lambda e: e is not None and e.status is ExecutionStatus.FILLED
        )

    def worker_log(self, rid: str, until: str) -> list[tuple[str, str]]:
        """Every line of the workers' logs about ``rid`` (its ``rec=`` field), each with
        the line after it (where a traceback would start), once one of them contains
        ``until``: a step's own line is written after its errback sent the record."""

        def lines_about() -> list[tuple[str, str]]:
            found = []
            for path in sorted(self.fleet.config.log_dir.glob("worker-*.log")):
                lines = path.read_text(errors="replace").splitlines()
                found += [
                    (line, after)
                    for line, after in zip(lines, [*lines[1:], ""], strict=True)
                    if f" rec={rid} " in line
                ]
            return found

        return self._poll(lines_about, lambda pairs: any(until in line for line, _ in pairs))

    def _poll(self, fetch, ready):
        try:
            return poll(fetch, ready, DEADLINE_S)
        except AssertionError as late:
            raise AssertionError(self.fleet.report(str(late)[:2_000])) from None


def assert_logged_once_as_an_outcome(pairs: list[tuple[str, str]], rid: str, refusal: str) -> None:
    """One line names the refusal, at INFO or WARNING, with both ids on it; no line about
    the recommendation is an ERROR, and none is followed by a traceback."""
    naming = [line for line, _ in pairs if refusal in line]
    assert len(naming) == 1, naming
    assert re.search(r": (INFO|WARNING)/", naming[0]), naming[0]
    assert f" coid={client_order_id_for(rid)}: " in naming[0], naming[0]
    alarming = [
        (line, after)
        for line, after in pairs
        if re.search(r": (ERROR|CRITICAL)/", line) or after.startswith("Traceback")
    ]
    assert alarming == []


@pytest.fixture(scope="module")
def fleet_pipeline(postgres_url, tmp_path_factory) -> Iterator[Pipeline]:
    DBS.flush()
    emulator = InProcessEmulator(emulator_options())
    emulator.start()
    config = FleetConfig(
        database_url=postgres_url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("fleet-logs"),
        api_key=KEY,
        secret_key=SECRET,
        env={"STRIKEFLOW_RETRY_DEADLINE_S": "2"},  # a venue down: the fallback at once
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([PIPELINE, ORDERS])
        yield Pipeline(fleet, emulator, postgres_url)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


@pytest.fixture
def pipeline(fleet_pipeline) -> Pipeline:
    fleet_pipeline.reset()
    return fleet_pipeline


@pytest.mark.parametrize(
    ("ticker", "action", "instrument", "strategy"),
    [
        ("SPY", "BUY", "CALL", "day_trade"),
        ("QQQ", "SELL", "PUT", "day_trade"),
        ("AAPL", "BUY", "CALL", "swing_trade"),
        ("MSFT", "BUY", "STOCK", None),
    ],
    ids=["call-day", "put-day", "swing", "stock"],
)
def test_a_trade_ends_filled_with_its_columns_and_in_the_views(
    pipeline, ticker, action, instrument, strategy
):
    rid = pipeline.recommend(ticker, action, instrument, strategy)
    pipeline.dispatch(rid)

    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    filled = pipeline.fill(rid)
    assert filled.execution_mode is ExecutionMode.PAPER
    assert filled.filled_qty == filled.quantity > 0
    assert filled.filled_avg_price is not None
    assert filled.filled_at is not None
    assert filled.instrument_type.value == instrument
    [order] = pipeline.venue.audit()
    assert order["client_order_id"] == client_order_id_for(rid)

    reports = ReportQueries(engine_for(pipeline.url))
    if instrument == "STOCK":
        assert filled.option_symbol is None
        assert reports.view("daily_options_summary") == []  # the views cover options only
        return
    [daily] = reports.view("daily_options_summary")
    assert (daily["instrument_type"], daily["fills"]) == (instrument, 1), daily
    assert daily["contracts"] == filled.contracts
    missing = [c for c in OPTION_COLUMNS if getattr(filled, c) is None]
    assert not missing, f"option columns not populated: {missing}"
    assert filled.option_symbol.startswith(ticker)
    assert filled.premium_paid == filled.filled_avg_price.quantize(Decimal("0.01"))
    assert filled.strategy_type.value == strategy
    [position] = reports.view("active_options_positions")
    assert position["option_symbol"] == filled.option_symbol
    assert position["contracts"] == filled.contracts
    # P&L by strategy counts closed trades only; an open entry is not one yet.
    assert reports.view("options_performance_by_strategy") == []


def test_no_eligible_contract_falls_back_to_the_stock_with_its_reason(pipeline):
    rid = pipeline.recommend("AAPL", "BUY", "CALL", "day_trade")  # no AAPL expiry in 0–1 DTE
    pipeline.dispatch(rid)

    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.FELL_BACK, rec.status_reason
    assert rec.status_reason == (  # AAPL lists Fridays only
        "no eligible contract: no AAPL expiry within 0–1 DTE on Mon 2037-11-16;"
        " the nearest is Fri 2037-11-20 (4 DTE)"
    )
    execution = pipeline.execution(rid)
    assert execution.instrument_type.value == "STOCK"
    assert execution.option_symbol is None
    assert "no eligible contract" in execution.explain_json["fallback"]["reason"]
    [order] = pipeline.venue.audit()
    assert order["symbol"] == "AAPL"
    assert pipeline.fill(rid).filled_qty == execution.quantity


@pytest.mark.parametrize(
    ("ticker", "action", "instrument", "strategy"),
    [("MSFT", "BUY", "STOCK", None), ("SPY", "BUY", "CALL", "day_trade")],
    ids=["stock", "call"],
)
def test_insufficient_buying_power_is_rejected_with_alpacas_message(
    pipeline, ticker, action, instrument, strategy
):
    rid = pipeline.recommend(ticker, action, instrument, strategy)
    sized = pipeline.prepare(rid)  # sized against the whole account
    # Then a resting order elsewhere reserves nearly all of it, before submit_order runs.
    account = pipeline.venue.session.get(f"{pipeline.emulator.url}/v2/account", timeout=10)
    power = Decimal(account.json()["buying_power"])
    reserve = pipeline.venue.session.post(
        f"{pipeline.emulator.url}/v2/orders",
        json={"symbol": "NVDA", "qty": str(int(power) - 10), "side": "buy"}
        | {"type": "limit", "limit_price": "1.00", "time_in_force": "day"},
        timeout=10,
    )
    assert reserve.status_code == 200, reserve.text
    pipeline.send_tail(sized)

    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.REJECTED
    assert "insufficient buying power" in rec.status_reason
    assert "OrderRejected" in rec.status_reason
    refused = pipeline.execution(rid)  # the order the venue refused, on record
    assert refused.status is ExecutionStatus.REJECTED
    assert refused.broker_order_id is None
    assert refused.explain_json["refusal"]["message"] == "insufficient buying power"
    assert all(o["symbol"] == "NVDA" for o in pipeline.venue.audit())
    logged = pipeline.worker_log(rid, until="Task strikeflow.persist_execution[")
    assert_logged_once_as_an_outcome(logged, rid, "insufficient buying power")
    if instrument != "STOCK":
        [daily] = ReportQueries(engine_for(pipeline.url)).view("daily_options_summary")
        assert (daily["instrument_type"], daily["rejections"], daily["fills"]) == (instrument, 1, 0)


def test_a_put_falling_back_to_stock_with_nothing_held_is_refused_before_the_venue(pipeline):
    rid = pipeline.recommend("AAPL", "SELL", "PUT", "day_trade")  # no AAPL expiry in 0–1 DTE
    pipeline.dispatch(rid)

    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.REJECTED, rec.status_reason
    assert "no shorting: SELL AAPL stock with no long position" in rec.status_reason
    explain = pipeline.recommendations.status_explain(rid)
    assert "no eligible contract" in explain["fallback"]["reason"]
    assert explain["short"]["held"] == "0"
    # The selection report, kept once on the recommendation: here, the expiries beyond 0-1 DTE.
    assert pipeline.recommendations.selection(rid)
    assert pipeline.execution(rid) is None
    assert pipeline.venue.audit() == []
    logged = pipeline.worker_log(rid, until=" raised ")
    assert_logged_once_as_an_outcome(logged, rid, "no shorting: SELL AAPL stock")


def _down_then_tail(pipeline: Pipeline) -> tuple[str, Recommendation]:
    rid = pipeline.recommend("SPY", "BUY", "CALL", "day_trade")
    sized = pipeline.prepare(rid)
    pipeline.emulator.stop()  # the venue is gone between sizing and the order
    with pytest.raises(requests.ConnectionError):
        pipeline.venue.audit()
    pipeline.send_tail(sized)
    return rid, pipeline.terminal(rid)


def test_venue_down_with_the_simulate_policy_records_a_simulated_execution(pipeline):
    rid, rec = _down_then_tail(pipeline)

    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    execution = pipeline.execution(rid)
    assert execution.execution_mode is ExecutionMode.SIMULATED
    assert execution.status is ExecutionStatus.FILLED
    assert "unavailable" in execution.explain_json["order"]["simulated_reason"]
    assert execution.option_symbol.startswith("SPY")
    pipeline.emulator.start()
    assert pipeline.venue.audit() == []


def test_venue_down_with_the_reject_policy_ends_failed(pipeline):
    pipeline.fleet.restart(ORDERS.name, STRIKEFLOW_ON_BROKER_FAILURE="reject")
    try:
        rid, rec = _down_then_tail(pipeline)
    finally:
        pipeline.emulator.start()
        pipeline.fleet.restart(ORDERS.name, STRIKEFLOW_ON_BROKER_FAILURE="simulate")

    assert rec.status is RecommendationStatus.FAILED, rec.status_reason
    assert "BrokerUnavailable" in rec.status_reason
    assert pipeline.execution(rid) is None


def test_with_the_kill_switch_on_nothing_reaches_the_venue(pipeline):
    pipeline.kill_switch.turn_on("integration test")
    rid = pipeline.recommend("MSFT", "BUY", "STOCK", None)
    pipeline.dispatch(rid)

    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.REJECTED
    assert "kill switch" in rec.status_reason
    explain = pipeline.recommendations.status_explain(rid)  # the figures, in the database
    assert explain["risk"]["allowed"] is False
    assert explain["sizing"]["quantity"] > 0
    assert pipeline.execution(rid) is None
    assert pipeline.venue.audit() == []
    logged = pipeline.worker_log(rid, until=" raised ")
    assert_logged_once_as_an_outcome(logged, rid, "kill switch on")


def test_a_duplicated_chain_tail_places_one_order_and_one_row(pipeline):
    rid = pipeline.recommend("SPY", "BUY", "CALL", "day_trade")
    sized = pipeline.prepare(rid)
    tails = [pipeline.send_tail(sized) for _ in range(2)]  # redelivered, as after a crash
    for tail in tails:
        tail.get(timeout=DEADLINE_S)

    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    pipeline.fill(rid)
    [order] = pipeline.venue.audit()
    assert order["client_order_id"] == client_order_id_for(rid)
    rows = pipeline.executions.recent(limit=10)
    assert [e.client_order_id for e in rows] == [client_order_id_for(rid)]
