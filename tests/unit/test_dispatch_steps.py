"""The dispatch steps over hand-written fakes and the in-process SimulatedBroker."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.errors import (
    BrokerUnavailable,
    DispatchRejected,
    InvalidPolicy,
)
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import StrikeBand
from strikeflow.domain.models import InstrumentType, Right, StrategyType
from strikeflow.domain.orders import BrokerOrder, OrderIntent, OrderType
from strikeflow.domain.records import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.risk import OpenExposure, RiskLimits
from strikeflow.domain.selection import StrikeMode, StrikeTarget
from strikeflow.services.dispatch import (
    DispatchPolicy,
    client_order_id_for,
    fetch_chain,
    order_intent,
    persist_execution,
    reconcile_orders,
    record_failure,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from tests.integration.records import recommendation, stock_execution
from tests.unit.factories import NOW, TODAY, contract
from tests.unit.fakes_dispatch import FakeClock, OrderBook, ScriptedBroker, make_context

STRIKES = range(80, 121)


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
    values = {"ticker": "XYZ", "created_at": NOW, "updated_at": NOW, **(rec_overrides or {})}
    rec = store.add(recommendation("rec-1", **values))
    return ctx, market, store, switch, broker, rec


def run_to_size(ctx, rec_id="rec-1"):
    payload = fetch_chain(ctx, rec_id)
    for step in (select_contract, snapshot_price, size_position):
        payload = json.loads(json.dumps(step(ctx, payload)))  # what Celery's JSON does
    return payload


def run_all(ctx, rec_id="rec-1"):
    payload = submit_order(ctx, run_to_size(ctx, rec_id))
    return persist_execution(ctx, json.loads(json.dumps(payload)))


# -- client_order_id ------------------------------------------------------------------


def test_client_order_id_is_deterministic_short_and_distinct():
    a, b = client_order_id_for("rec-1"), client_order_id_for("rec-2")
    assert a == client_order_id_for("rec-1")
    assert a != b
    assert a.startswith("sf-")
    assert len(a) <= 48
    assert len(client_order_id_for("x" * 500)) <= 48


# -- the happy paths ------------------------------------------------------------------


def test_call_day_trade_ends_executed_with_every_option_column():
    ctx, _market, store, _, broker, _ = setup()
    result = run_all(ctx)
    assert result["status"] == "executed"
    assert result["execution_status"] == "filled"
    row = store.executions[client_order_id_for("rec-1")]
    assert row.instrument_type is InstrumentType.CALL
    assert row.option_symbol == "XYZ261119C00100000"  # ATM, nearest expiry (0 DTE)
    assert (row.strike_price, row.expiration_date) == (Decimal("100"), TODAY)
    assert row.contracts == 22  # 4.64% of 100,000 = 4,640 // 210
    assert row.quantity == Decimal(22)
    assert row.premium_paid == Decimal("2.10")
    assert (row.delta, row.gamma, row.theta, row.vega) == (
        Decimal("0.5000"),
        Decimal("0.0500"),
        Decimal("-0.0800"),
        Decimal("0.1200"),
    )
    assert row.implied_volatility == Decimal("0.3000")
    assert row.strategy_type is StrategyType.DAY_TRADE
    assert row.execution_mode is ExecutionMode.SIMULATED
    assert row.explain_json["order"]["simulated_reason"] == "unit test"
    assert row.explain_json["selection"]["chosen"]["symbol"] == row.option_symbol
    assert {"symbol", "reasons"} <= set(row.explain_json["selection"]["rejected"][0])
    assert row.explain_json["risk"]["allowed"] is True
    assert store.recs["rec-1"].status is RecommendationStatus.EXECUTED
    assert broker.positions()[0].qty == Decimal(22)
    json.dumps(row.explain_json)  # JSON all the way down


def test_greeks_the_venue_did_not_send_are_the_models_in_the_row_and_say_so():
    """The market port hands nulls on; the selection backs out the chosen contract's."""
    ctx, _market, store, _, _, _ = setup(listed(delta=None, implied_vol=None))
    assert run_all(ctx)["status"] == "executed"
    row = store.executions[client_order_id_for("rec-1")]
    assert row.option_symbol == "XYZ261119C00100000"
    assert Decimal("0.3") < row.delta < Decimal("0.7")  # an ATM call's, from its mid
    assert row.gamma > 0
    assert row.theta < 0
    assert row.vega > 0
    assert Decimal("0.05") < row.implied_volatility < Decimal("5")
    assert row.explain_json["selection"]["chosen"]["greeks_source"] == "model from mid"


def test_fetch_chain_asks_only_for_the_window_the_band_and_the_right():
    """A day trade's ATM target: the two strikes nearest spot on each side, per expiry."""
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.PUT})
    payload = fetch_chain(ctx, "rec-1")
    ((ticker, window, band, right),) = market.queries
    assert (ticker, window.first, window.last, right) == ("XYZ", TODAY, TODAY + timedelta(1), "P")
    assert (band.low, band.high, band.per_side, band.center) == (None, None, 2, Decimal(100))
    columns = payload["chain"]["columns"]
    assert sorted({Decimal(strike) for strike in columns["strike"]}) == [99, 100, 101, 102]
    assert payload["chain"]["count"] == len(columns["symbol"]) == 2 * 4
    assert payload["chain"]["shared"] == {"underlying": "XYZ", "right": "P", "multiplier": 100}


def test_an_atm_day_trade_finds_its_strike_however_far_the_listing_spaces_them():
    """$5 strikes on a $12.40 stock: none within +-4 %, the nearest 2.40 away (19 %)."""
    ctx, market, *_ = setup([contract(k, dte=0) for k in (5, 10, 15, 20)])
    market.quote_stock("XYZ", "12.40")
    payload = fetch_chain(ctx, "rec-1")
    assert sorted(Decimal(k) for k in payload["chain"]["columns"]["strike"]) == [5, 10, 15, 20]
    assert select_contract(ctx, payload)["contract"]["strike"] == "10"


def test_a_percent_target_beyond_the_band_finds_its_strike():
    """8 % OTM on a day trade, whose band is +-4 %: the strikes nearest 108, not 96-104."""
    otm = {StrategyType.DAY_TRADE: StrikeTarget(StrikeMode.OTM, percent=0.08)}
    ctx, *_ = setup(policy=DispatchPolicy(strikes=otm))
    payload = fetch_chain(ctx, "rec-1")
    assert sorted({Decimal(k) for k in payload["chain"]["columns"]["strike"]}) == [
        107,
        108,
        109,
        110,
    ]
    assert select_contract(ctx, payload)["contract"]["strike"] == "108"


def test_a_target_by_delta_fetches_the_whole_band():
    """Only a range of prices bounds a delta target: every strike within +-4 %."""
    delta = {StrategyType.DAY_TRADE: StrikeTarget(StrikeMode.DELTA, delta=0.5)}
    ctx, market, *_ = setup(policy=DispatchPolicy(strikes=delta))
    payload = fetch_chain(ctx, "rec-1")
    ((_, _, band, _),) = market.queries
    assert (band.low, band.high) == (Decimal("96.0000"), Decimal("104.0000"))  # day: +-4 %
    assert band.per_side is None
    strikes = {Decimal(strike) for strike in payload["chain"]["columns"]["strike"]}
    assert (min(strikes), max(strikes), len(strikes)) == (96, 104, 9)
    assert payload["chain"]["count"] == 2 * 9


def test_fetch_chain_writes_nothing():
    ctx, _, store, *_ = setup()
    writes = store.status_writes
    fetch_chain(ctx, "rec-1")
    assert store.status_writes == writes  # the sender marks it dispatched
    assert store.recs["rec-1"].status is RecommendationStatus.PENDING


def test_swing_trade_picks_by_delta_in_its_window():
    chain = [contract(k, dte=10, right=Right.PUT, delta=-(0.5 - (100 - k) * 0.02)) for k in STRIKES]
    ctx, market, *_ = setup(
        chain,
        rec_overrides={
            "instrument_type": InstrumentType.PUT,
            "strategy_type": StrategyType.SWING_TRADE,
            "action": Action.SELL,
        },
    )
    payload = run_to_size(ctx)
    assert payload["contract"]["strike"] == "95"  # |delta| 0.40
    ((_, _, band, _),) = market.queries
    assert (band.low, band.high) == (Decimal("90.000"), Decimal("110.000"))  # swing: +-10 %
    assert order_intent(ctx, payload).side is Action.BUY  # puts are bought to open


def test_stock_recommendation_passes_through_without_a_chain():
    ctx, market, store, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    result = run_all(ctx)
    assert market.queries == []
    assert result["status"] == "executed"
    row = store.executions[client_order_id_for("rec-1")]
    assert row.instrument_type is InstrumentType.STOCK
    assert row.option_symbol is None
    assert row.quantity == Decimal(46)  # 4,640 // 100.01


def test_alpaca_volume_zero_does_not_disqualify_contracts():
    ctx, *_ = setup(listed(volume=0))
    assert run_to_size(ctx)["trade"] == "CALL"


# -- fallbacks and rejections -----------------------------------------------------------


def test_no_eligible_contract_falls_back_to_stock_with_reasons():
    ctx, _, store, *_ = setup(listed(bid="0.00"))
    result = run_all(ctx)
    assert result["status"] == "fell_back"
    row = store.executions[client_order_id_for("rec-1")]
    assert row.instrument_type is InstrumentType.STOCK
    assert "no eligible contract" in row.explain_json["fallback"]["reason"]
    # the ATM target's candidates: two strikes on each side of spot, 0 and 1 DTE
    assert row.explain_json["fallback"]["counts"] == {"no bid": 8}
    assert row.explain_json["selection"]["rejected_counts"] == {"no bid": 8}
    assert "no eligible contract" in store.recs["rec-1"].status_reason


def test_a_window_with_no_expiry_falls_back_naming_the_nearest_one():
    """A single stock lists Fridays only: a 0–1 DTE day trade on a Tuesday has none."""
    tuesday = datetime(2026, 11, 17, 10, 45, tzinfo=NEW_YORK)
    fridays = [contract(k, dte=dte, now=tuesday) for dte in (1, 8) for k in STRIKES]
    ctx, market, *_ = setup(fridays, clock=FakeClock(tuesday))
    payload = fetch_chain(ctx, "rec-1")
    window, ahead = (query[1] for query in market.queries)  # the window, then beyond it
    assert (window.first, window.last) == (date(2026, 11, 17), date(2026, 11, 18))
    assert (ahead.first, ahead.last) == (date(2026, 11, 17), date(2027, 1, 2))
    assert market.queries[1][2] == StrikeBand.nearest(Decimal(100), 1)
    assert payload["listed_through"] == "2027-01-02"
    out = select_contract(ctx, json.loads(json.dumps(payload)))
    assert out["trade"] == "STOCK"
    assert "listed_through" not in out
    assert out["explain"]["fallback"]["reason"] == (
        "no eligible contract: no XYZ expiry within 0–1 DTE on Tue 2026-11-17;"
        " the nearest is Fri 2026-11-20 (3 DTE)"
    )
    assert out["explain"]["fallback"]["counts"] == {"outside 0–1 DTE": 4}


def test_with_nothing_listed_ahead_either_the_reason_says_how_far_it_looked():
    ctx, market, *_ = setup([])
    out = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    assert len(market.queries) == 2
    assert out["explain"]["fallback"]["reason"] == (
        "no eligible contract: no XYZ expiry within 0–1 DTE on Thu 2026-11-19,"
        " nor any listed through Mon 2027-01-04"
    )


def test_no_eligible_contract_without_fallback_is_rejected():
    ctx, *_ = setup(listed(bid="0.00"), policy=DispatchPolicy(stock_fallback=False))
    payload = fetch_chain(ctx, "rec-1")
    with pytest.raises(DispatchRejected) as refused:
        select_contract(ctx, payload)
    assert str(refused.value) == (
        "no eligible contract: 8 XYZ calls in 0–1 DTE on Thu 2026-11-19, all rejected: no bid (8)"
    )


def test_zero_contracts_falls_back_to_stock_when_allowed():
    ctx, *_ = setup(cash=Decimal(4_000))  # budget 185.60 < 210 per contract
    payload = run_to_size(ctx)
    assert payload["trade"] == "STOCK"
    assert payload["quantity"] == "1"
    assert payload["contract"] is None
    assert "zero contracts" in payload["explain"]["fallback"]["reason"]


def test_zero_size_without_fallback_is_rejected_with_the_budget():
    ctx, *_ = setup(cash=Decimal(4_000), policy=DispatchPolicy(stock_fallback=False))
    with pytest.raises(DispatchRejected, match=r"size 0: premium 2\.10 × 100 = 210\.00"):
        run_to_size(ctx)


def test_risk_breach_rejects_in_size_position_with_the_reason():
    limits = RiskLimits(max_exposure_per_ticker=Decimal("5000"))
    ctx, _, store, *_ = setup(policy=DispatchPolicy(risk=limits))
    store.exposure = OpenExposure(1, {"XYZ": Decimal("1000")})
    held_and_order = r"XYZ exposure 1000\.00 \+ order 4620\.00"
    with pytest.raises(DispatchRejected, match=held_and_order) as refused:
        run_to_size(ctx)
    assert refused.value.explain["risk"]["breaches"] == ["max_ticker_exposure"]


def test_day_trade_after_the_cutoff_is_rejected():
    ctx, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    ctx.now.at = datetime(2026, 11, 19, 20, 31, tzinfo=UTC)  # 15:31 in New York
    ctx.market.quote_stock("XYZ", "100")
    with pytest.raises(DispatchRejected, match="after 15:30 ET"):
        run_to_size(ctx)


def test_terminal_recommendation_does_not_start_again():
    ctx, _, store, *_ = setup()
    store.set_status("rec-1", RecommendationStatus.REJECTED, "earlier")
    with pytest.raises(DispatchRejected, match="already rejected"):
        fetch_chain(ctx, "rec-1")


# -- bearish stock trades: no shorting ---------------------------------------------------


def test_a_put_falling_back_to_stock_with_nothing_held_is_refused_before_the_venue():
    rec = {"instrument_type": InstrumentType.PUT, "action": Action.SELL}
    ctx, _, _store, _, broker, _ = setup(listed(open_interest=0), rec_overrides=rec)
    with pytest.raises(DispatchRejected, match="no shorting: SELL XYZ stock") as refused:
        run_to_size(ctx)
    assert refused.value.explain["fallback"]["reason"].startswith("no eligible contract")
    assert "orders=0" in repr(broker)  # and nothing was sent


def test_a_bearish_stock_trade_closes_the_long_position_held():
    ctx, _market, store, _, broker, _ = setup(
        rec_overrides={"instrument_type": InstrumentType.STOCK}
    )
    held = broker.submit(OrderIntent("sf-held", "XYZ", Action.BUY, Decimal(7)))
    assert held.status is ExecutionStatus.FILLED
    bearish = {"instrument_type": InstrumentType.STOCK, "action": Action.SELL}
    store.add(recommendation("rec-2", ticker="XYZ", created_at=NOW, updated_at=NOW, **bearish))
    out = run_all(ctx, "rec-2")
    assert out["status"] == RecommendationStatus.EXECUTED.value
    row = store.executions[client_order_id_for("rec-2")]
    assert (row.action, row.quantity) == (Action.SELL, Decimal(7))
    assert row.position_effect is PositionEffect.CLOSE
    assert broker.positions() == []


def test_allow_short_lets_a_bearish_stock_trade_be_sized_as_before():
    rec = {"instrument_type": InstrumentType.STOCK, "action": Action.SELL}
    ctx, *_ = setup(rec_overrides=rec, policy=DispatchPolicy(allow_short=True))
    sized = run_to_size(ctx)
    assert "position_effect" not in sized
    assert Decimal(sized["quantity"]) > 0


# -- snapshot_price -----------------------------------------------------------------------


def later(ctx, seconds: float = 2.0) -> None:
    """Let the next step run ``seconds`` after the previous one (past requote_after_s)."""
    ctx.now.at += timedelta(seconds=seconds)


def test_snapshot_right_after_the_fetch_reuses_its_quotes():
    ctx, market, *_ = setup()
    payload = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    stock_calls = market.stock_calls
    later(ctx, 0.5)  # within requote_after_s (1 s)
    priced = snapshot_price(ctx, payload)
    assert (market.stock_calls, market.snapshot_calls) == (stock_calls, 0)
    assert priced["stock_quote"] == payload["spot_quote"]
    assert priced["option_quote"]["ask"] == payload["contract"]["ask"]


def test_snapshot_after_requote_after_s_asks_again():
    ctx, market, *_ = setup()
    payload = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    stock_calls = market.stock_calls
    later(ctx, 1.5)
    snapshot_price(ctx, payload)
    assert (market.stock_calls, market.snapshot_calls) == (stock_calls + 1, 1)


def test_requote_after_zero_always_asks_again():
    ctx, market, *_ = setup(policy=DispatchPolicy(requote_after_s=0))
    payload = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx, 0.001)
    snapshot_price(ctx, payload)
    assert market.snapshot_calls == 1


def test_requote_after_beyond_the_freshness_limit_is_refused():
    with pytest.raises(InvalidPolicy, match="requote_after_s"):
        DispatchPolicy(requote_after_s=31)


def test_stale_stock_quote_is_refetched():
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    payload = fetch_chain(ctx, "rec-1")
    later(ctx)
    market.quote_stock("XYZ", "100", "100", ages=[31, 1])
    assert snapshot_price(ctx, payload)["stock_quote"]["ask"] == "100.01"


def test_quote_still_stale_after_refetch_is_rejected():
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    payload = fetch_chain(ctx, "rec-1")
    later(ctx)
    market.quote_stock("XYZ", "100", ages=[45])
    with pytest.raises(DispatchRejected, match="XYZ quote 45 s old > 30 s"):
        snapshot_price(ctx, payload)


def test_stale_option_quote_is_refetched_then_rejected():
    ctx, market, *_ = setup(listed(quote_age_s=45))  # fresh enough to select (60 s)
    payload = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    with pytest.raises(DispatchRejected, match="quote 47 s old > 30 s"):
        snapshot_price(ctx, payload)
    assert market.snapshot_calls == 2


def test_a_move_beyond_the_limit_reselects_the_option():
    ctx, market, *_ = setup()
    payload = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    assert payload["contract"]["strike"] == "100"
    market.quote_stock("XYZ", "103")
    moved = snapshot_price(ctx, payload)
    assert moved["contract"]["strike"] == "103"
    assert moved["reselects"] == 1
    assert moved["explain"]["price_checks"][0]["previous"] == "XYZ261119C00100000"
    assert "moved 3.00%" in moved["explain"]["price_checks"][0]["moved"]
    assert len(market.queries) == 2


def test_a_second_move_after_reselecting_is_rejected():
    ctx, market, *_ = setup(policy=DispatchPolicy(requote_after_s=0))  # each check asks
    payload = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    market.quote_stock("XYZ", "103", "103", "106")  # snapshot, reselect, snapshot again
    with pytest.raises(DispatchRejected, match=r"price moved: XYZ moved 2\.91%"):
        snapshot_price(ctx, payload)


def test_a_move_on_a_stock_trade_is_rejected():
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    payload = fetch_chain(ctx, "rec-1")
    later(ctx)
    market.quote_stock("XYZ", "97.9")
    with pytest.raises(DispatchRejected, match=r"moved 2\.10%"):
        snapshot_price(ctx, payload)


def test_a_move_within_the_limit_keeps_the_selection():
    ctx, market, *_ = setup()
    payload = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    market.quote_stock("XYZ", "102")
    assert snapshot_price(ctx, payload)["reselects"] == 0


# -- submit_order -----------------------------------------------------------------------


def test_kill_switch_on_sends_nothing():
    ctx, _, _, switch, broker, _ = setup()
    payload = run_to_size(ctx)
    ctx.broker = scripted = ScriptedBroker(broker)
    switch.on = True
    with pytest.raises(DispatchRejected, match="kill switch on"):
        submit_order(ctx, payload)
    assert scripted.submits == 0
    assert broker.order_by_client_id(payload["client_order_id"]) is None


def test_kill_switch_is_also_checked_in_size_position():
    ctx, _, _, switch, *_ = setup()
    switch.on = True
    with pytest.raises(DispatchRejected, match="risk: kill switch on"):
        run_to_size(ctx)


def test_a_duplicate_submit_finds_the_first_order_even_with_the_switch_on():
    ctx, _, _, switch, broker, _ = setup()
    payload = run_to_size(ctx)
    first = submit_order(ctx, payload)["order"]
    assert submit_order(ctx, payload)["order"] == first
    switch.on = True
    assert submit_order(ctx, payload)["order"] == first
    assert broker.positions()[0].qty == Decimal(22)  # one order, not three


def test_broker_unavailable_propagates_and_a_retry_uses_the_same_id():
    ctx, _, _, _, broker, _ = setup()
    payload = run_to_size(ctx)
    ctx.broker = scripted = ScriptedBroker(broker, failures=1)
    with pytest.raises(BrokerUnavailable):
        submit_order(ctx, payload)
    order = submit_order(ctx, payload)["order"]
    assert order["client_order_id"] == client_order_id_for("rec-1")
    assert scripted.submits == 2


def test_a_duplicate_after_a_simulated_fallback_never_reaches_the_venue():
    ctx, _, store, *_ = setup()
    payload = run_to_size(ctx)
    simulated = submit_order(ctx, payload)  # the fallback's simulated fill, persisted
    persist_execution(ctx, simulated)
    ctx.broker = venue = ScriptedBroker(OrderBook())  # the venue is back
    again = submit_order(ctx, payload)  # Celery delivers the step a second time
    assert venue.submits == 0
    assert again["order"]["execution_mode"] == ExecutionMode.SIMULATED.value
    assert again["order"]["id"] == simulated["order"]["id"]
    persist_execution(ctx, again)
    assert len(store.executions) == 1


def test_a_refused_order_is_one_rejected_row_with_alpacas_message():
    ctx, _, store, _, broker, _ = setup()
    payload = run_to_size(ctx)
    ctx.broker = ScriptedBroker(broker, reject=True)
    refused = submit_order(ctx, payload)  # no exception: the refusal is an order record
    assert refused["order"]["status"] == ExecutionStatus.REJECTED.value
    out = persist_execution(ctx, json.loads(json.dumps(refused)))
    assert out["status"] == RecommendationStatus.REJECTED.value
    rec = store.recs["rec-1"]
    assert rec.status is RecommendationStatus.REJECTED
    assert "OrderRejected" in rec.status_reason
    assert "insufficient buying power" in rec.status_reason
    (row,) = store.executions.values()
    assert row.status is ExecutionStatus.REJECTED
    assert row.broker_order_id is None
    assert row.option_symbol == payload["contract"]["symbol"]  # what was refused
    assert row.explain_json["refusal"]["code"] == 40310000
    # a duplicate of the step stops at the recorded state; its errback changes nothing
    with pytest.raises(DispatchRejected, match="already rejected"):
        submit_order(ctx, payload)
    record_failure(ctx, "rec-1", "DispatchRejected", "recommendation already rejected")
    persist_execution(ctx, json.loads(json.dumps(refused)))
    assert len(store.executions) == 1
    assert "insufficient buying power" in store.recs["rec-1"].status_reason


def test_submit_after_a_recorded_failure_sends_nothing():
    ctx, _, _, _, broker, _ = setup()
    payload = run_to_size(ctx)
    record_failure(ctx, "rec-1", "BrokerUnavailable", "gave up")
    with pytest.raises(DispatchRejected, match="already failed"):
        submit_order(ctx, payload)
    assert broker.order_by_client_id(payload["client_order_id"]) is None


def test_option_order_is_a_marketable_limit_buy_to_open():
    ctx, *_ = setup()
    intent = order_intent(ctx, run_to_size(ctx))
    assert intent.order_type is OrderType.LIMIT
    assert intent.limit_price == Decimal("2.10")
    assert intent.position_intent == "buy_to_open"
    assert intent.qty == Decimal(22)


# -- persist_execution, record_failure, reconcile_orders -----------------------------------


def test_persist_twice_keeps_one_row_and_one_terminal_state():
    ctx, _, store, *_ = setup()
    payload = submit_order(ctx, run_to_size(ctx))
    first = persist_execution(ctx, payload)
    writes = store.status_writes
    assert persist_execution(ctx, payload) == first
    assert len(store.executions) == 1
    assert store.status_writes == writes


def test_record_failure_is_idempotent_and_never_overwrites():
    ctx, _, store, *_ = setup()
    record_failure(ctx, "rec-1", "DispatchRejected", "risk: kill switch on")
    record_failure(ctx, "rec-1", "BrokerUnavailable", "later errback")
    rec = store.recs["rec-1"]
    assert rec.status is RecommendationStatus.REJECTED
    assert rec.status_reason == "DispatchRejected: risk: kill switch on"


def test_a_refusal_keeps_its_explain_beside_the_status():
    ctx, _, store, *_ = setup(policy=DispatchPolicy(risk=RiskLimits(max_open_positions=1)))
    store.exposure = OpenExposure(1, {})
    with pytest.raises(DispatchRejected) as refused:
        run_to_size(ctx)
    explain = refused.value.explain
    assert explain["risk"]["allowed"] is False
    record_failure(ctx, "rec-1", "DispatchRejected", str(refused.value), explain)
    assert store.recs["rec-1"].status is RecommendationStatus.REJECTED
    assert store.explains["rec-1"]["risk"] == json.loads(json.dumps(explain["risk"]))
    # every candidate's reasons too, as stored (it travelled packed)
    selection = store.explains["rec-1"]["selection"]
    assert selection["chosen"]["symbol"] == "XYZ261119C00100000"
    assert len(selection["rejected"]) == selection["candidates"] - 2 > 0


def test_unexpected_errors_are_failed():
    ctx, _, store, *_ = setup()
    record_failure(ctx, "rec-1", "BrokerUnavailable", "retries exhausted")
    assert store.recs["rec-1"].status is RecommendationStatus.FAILED


def test_record_failure_after_an_executed_row_keeps_executed():
    ctx, _, store, *_ = setup()
    run_all(ctx)
    record_failure(ctx, "rec-1", "WorkerLostError", "late")
    assert store.recs["rec-1"].status is RecommendationStatus.EXECUTED


def test_record_failure_when_the_row_exists_but_the_status_does_not():
    ctx, _, store, *_ = setup()
    store.upsert_execution(stock_execution(client_order_id_for("rec-1"), "rec-1", ticker="XYZ"))
    record_failure(ctx, "rec-1", "WorkerLostError", "died after the insert")
    assert store.recs["rec-1"].status is RecommendationStatus.EXECUTED


def test_reconcile_records_fills_of_unfinished_orders():
    ctx, _, store, *_ = setup()
    cid = client_order_id_for("rec-1")
    store.upsert_execution(
        stock_execution(
            cid,
            "rec-1",
            status=ExecutionStatus.ACCEPTED,
            filled_qty=None,
            filled_avg_price=None,
            filled_at=None,
        )
    )
    store.upsert_execution(stock_execution("sf-other", "rec-1", status=ExecutionStatus.ACCEPTED))
    book = ctx.broker = OrderBook()
    filled_at = NOW + timedelta(seconds=5)
    book.orders[cid] = BrokerOrder(
        id="o-1",
        client_order_id=cid,
        symbol="AAPL",
        side=Action.BUY,
        qty=Decimal(12),
        order_type=OrderType.MARKET,
        status=ExecutionStatus.FILLED,
        broker_status="filled",
        broker=BrokerName.ALPACA,
        execution_mode=ExecutionMode.PAPER,
        filled_qty=Decimal(12),
        filled_avg_price=Decimal("229.50"),
        filled_at=filled_at,
    )
    assert reconcile_orders(ctx) == 1
    row = store.executions[cid]
    assert (row.status, row.filled_qty, row.filled_avg_price) == (
        ExecutionStatus.FILLED,
        Decimal(12),
        Decimal("229.50"),
    )
    assert reconcile_orders(ctx) == 0  # nothing left unfinished that changed


def test_a_resting_limit_order_is_persisted_as_accepted():
    ctx, market, store, *_ = setup()
    payload = run_to_size(ctx)
    market.contracts = [replace(c, ask=Decimal("2.50")) for c in market.contracts]
    result = persist_execution(ctx, submit_order(ctx, payload))
    assert result["execution_status"] == "accepted"
    assert result["status"] == "executed"
    row = store.executions[client_order_id_for("rec-1")]
    assert row.premium_paid == Decimal("2.10")
    assert row.filled_qty == 0
    assert row.explain_json["order_cost"] == "4620.00"
    assert row.expiration_date == date(2026, 11, 19)
