"""The dispatch steps over hand-written fakes and the in-process SimulatedBroker; where a
test drives several steps in a row, each message crosses Celery's JSON hop
(``tests.unit.dispatch_runs``)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from strikeflow.broker_adapters.fallback import FallbackBroker
from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderType,
    PositionEffect,
    RecommendationStatus,
    Right,
    StrategyType,
    StrikeMode,
)
from strikeflow.domain.errors import BrokerUnavailable, DispatchRejected, InvalidPolicy
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import StrikeBand
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.domain.risk import OpenExposure, RiskLimits
from strikeflow.domain.selection import StrikeTarget
from strikeflow.services.dispatch_policy import DispatchPolicy, client_order_id_for
from strikeflow.services.dispatch_steps import (
    fall_back,
    fetch_chain,
    order_intent,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from strikeflow.services.messages import PriceChecked, Reselection, encode
from strikeflow.services.outcomes import persist_execution, reconcile_orders, record_failure
from tests.integration.record_factories import recommendation, stock_execution
from tests.unit.dispatch_runs import (
    STOCK,
    STRIKES,
    hop,
    keys_in,
    later,
    listed,
    price,
    reselect,
    run_all,
    run_to_size,
    selection_writes,
    setup,
)
from tests.unit.factories import NOW, TODAY, contract
from tests.unit.fakes_dispatch import FakeClock, OrderBook, ScriptedBroker

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
    assert result.status is RecommendationStatus.EXECUTED
    assert result.execution_status == "filled"
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
    selection = store.selections["rec-1"]  # kept once, on the recommendation
    assert selection["chosen"]["symbol"] == row.option_symbol
    assert {"symbol", "reasons"} <= set(selection["rejected"][0])
    assert "selection" not in row.explain_json
    assert row.explain_json["risk"]["allowed"] is True
    assert store.recs["rec-1"].status is RecommendationStatus.EXECUTED
    assert broker.positions()[0].qty == Decimal(22)
    json.dumps(row.explain_json)  # JSON all the way down


def test_greeks_the_venue_did_not_send_are_the_models_in_the_row_and_say_so():
    """The market port hands nulls on; the selection backs out the chosen contract's."""
    ctx, _market, store, _, _, _ = setup(listed(delta=None, implied_vol=None))
    assert run_all(ctx).status is RecommendationStatus.EXECUTED
    row = store.executions[client_order_id_for("rec-1")]
    assert row.option_symbol == "XYZ261119C00100000"
    assert Decimal("0.3") < row.delta < Decimal("0.7")  # an ATM call's, from its mid
    assert row.gamma > 0
    assert row.theta < 0
    assert row.vega > 0
    assert Decimal("0.05") < row.implied_volatility < Decimal("5")
    assert store.selections["rec-1"]["chosen"]["greeks_source"] == "model from mid"


def test_fetch_chain_asks_only_for_the_window_the_band_and_the_right():
    """A day trade's ATM target: the two strikes nearest spot on each side, per expiry."""
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.PUT})
    fetched = fetch_chain(ctx, "rec-1")
    ((ticker, window, band, right),) = market.queries
    assert (ticker, window.first, window.last, right) == ("XYZ", TODAY, TODAY + timedelta(1), "P")
    assert (band.low, band.high, band.per_side, band.center) == (None, None, 2, Decimal(100))
    # The contracts fetched (the chain travels as contracts; once as columns): the four
    # strikes of each of the two expiries, all puts on XYZ of 100 shares.
    assert sorted({c.strike for c in fetched.chain}) == [99, 100, 101, 102]
    assert len(fetched.chain) == 2 * 4
    assert {c.expiration for c in fetched.chain} == {TODAY, TODAY + timedelta(1)}
    assert {(c.underlying, c.right, c.multiplier) for c in fetched.chain} == {("XYZ", "P", 100)}


def test_an_atm_day_trade_finds_its_strike_however_far_the_listing_spaces_them():
    """$5 strikes on a $12.40 stock: none within +-4 %, the nearest 2.40 away (19 %)."""
    ctx, market, *_ = setup([contract(k, dte=0) for k in (5, 10, 15, 20)])
    market.quote_stock("XYZ", "12.40")
    fetched = fetch_chain(ctx, "rec-1")
    assert sorted(c.strike for c in fetched.chain) == [5, 10, 15, 20]
    assert select_contract(ctx, fetched).contract.strike == Decimal("10")


def test_a_percent_target_beyond_the_band_finds_its_strike():
    """8 % OTM on a day trade, whose band is +-4 %: the strikes nearest 108, not 96-104."""
    otm = {StrategyType.DAY_TRADE: StrikeTarget(StrikeMode.OTM, percent=0.08)}
    ctx, *_ = setup(policy=DispatchPolicy(strikes=otm))
    fetched = fetch_chain(ctx, "rec-1")
    assert sorted({c.strike for c in fetched.chain}) == [107, 108, 109, 110]
    assert select_contract(ctx, fetched).contract.strike == Decimal("108")


def test_a_target_by_delta_fetches_the_whole_band():
    """Only a range of prices bounds a delta target: every strike within +-4 %."""
    delta = {StrategyType.DAY_TRADE: StrikeTarget(StrikeMode.DELTA, delta=0.5)}
    ctx, market, *_ = setup(policy=DispatchPolicy(strikes=delta))
    fetched = fetch_chain(ctx, "rec-1")
    ((_, _, band, _),) = market.queries
    assert (band.low, band.high) == (Decimal("96.0000"), Decimal("104.0000"))  # day: +-4 %
    assert band.per_side is None
    strikes = {c.strike for c in fetched.chain}
    assert (min(strikes), max(strikes), len(strikes)) == (96, 104, 9)
    assert len(fetched.chain) == 2 * 9


def test_fetch_chain_writes_nothing():
    ctx, _, store, *_ = setup()
    writes = store.status_writes
    fetch_chain(ctx, "rec-1")
    assert store.status_writes == writes  # the sender marks it dispatched, not the steps
    assert store.recs["rec-1"].status is RecommendationStatus.DISPATCHED
    assert store.selections == {}  # select_contract keeps the report, not the fetch


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
    sized = run_to_size(ctx)
    assert sized.contract.strike == Decimal("95")  # |delta| 0.40
    ((_, _, band, _),) = market.queries
    assert (band.low, band.high) == (Decimal("90.000"), Decimal("110.000"))  # swing: +-10 %
    assert order_intent(ctx, sized).side is Action.BUY  # puts are bought to open


def test_stock_recommendation_passes_through_without_a_chain():
    ctx, market, store, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    result = run_all(ctx)
    assert market.queries == []
    assert result.status is RecommendationStatus.EXECUTED
    row = store.executions[client_order_id_for("rec-1")]
    assert row.instrument_type is InstrumentType.STOCK
    assert row.option_symbol is None
    assert row.quantity == Decimal(46)  # 4,640 // 100.01


def test_alpaca_volume_zero_does_not_disqualify_contracts():
    ctx, *_ = setup(listed(volume=0))
    assert run_to_size(ctx).trade is InstrumentType.CALL


# -- fallbacks and rejections -----------------------------------------------------------


def test_no_eligible_contract_falls_back_to_stock_with_reasons():
    ctx, _, store, *_ = setup(listed(bid="0.00"))
    result = run_all(ctx)
    assert result.status is RecommendationStatus.FELL_BACK
    row = store.executions[client_order_id_for("rec-1")]
    assert row.instrument_type is InstrumentType.STOCK
    assert "no eligible contract" in row.explain_json["fallback"]["reason"]
    # the ATM target's candidates: two strikes on each side of spot, 0 and 1 DTE
    assert row.explain_json["fallback"]["counts"] == {"no bid": 8}
    assert store.selections["rec-1"]["rejected_counts"] == {"no bid": 8}
    assert "selection" not in row.explain_json
    assert "no eligible contract" in store.recs["rec-1"].status_reason


def test_a_window_with_no_expiry_falls_back_naming_the_nearest_one():
    """A single stock lists Fridays only: a 0–1 DTE day trade on a Tuesday has none."""
    tuesday = datetime(2026, 11, 17, 10, 45, tzinfo=NEW_YORK)
    fridays = [contract(k, dte=dte, now=tuesday) for dte in (1, 8) for k in STRIKES]
    ctx, market, *_ = setup(fridays, clock=FakeClock(tuesday))
    fetched = fetch_chain(ctx, "rec-1")
    window, ahead = (query[1] for query in market.queries)  # the window, then beyond it
    assert (window.first, window.last) == (date(2026, 11, 17), date(2026, 11, 18))
    assert (ahead.first, ahead.last) == (date(2026, 11, 17), date(2027, 1, 2))
    assert market.queries[1][2] == StrikeBand.nearest(Decimal(100), 1)
    assert fetched.listed_through == date(2027, 1, 2)
    out = select_contract(ctx, hop(fetched))
    assert out.trade is STOCK
    assert "listed_through" not in encode(out)
    assert out.notes.fallback.reason == (
        "no eligible contract: no XYZ expiry within 0–1 DTE on Tue 2026-11-17;"
        " the nearest is Fri 2026-11-20 (3 DTE)"
    )
    assert out.notes.fallback.counts == {"outside 0–1 DTE": 4}


def test_with_nothing_listed_ahead_either_the_reason_says_how_far_it_looked():
    ctx, market, *_ = setup([])
    out = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    assert len(market.queries) == 2
    assert out.notes.fallback.reason == (
        "no eligible contract: no XYZ expiry within 0–1 DTE on Thu 2026-11-19,"
        " nor any listed through Mon 2027-01-04"
    )


def test_no_eligible_contract_without_fallback_is_rejected():
    ctx, *_ = setup(listed(bid="0.00"), policy=DispatchPolicy(stock_fallback=False))
    fetched = fetch_chain(ctx, "rec-1")
    with pytest.raises(DispatchRejected) as refused:
        select_contract(ctx, fetched)
    assert str(refused.value) == (
        "no eligible contract: 8 XYZ calls in 0–1 DTE on Thu 2026-11-19, all rejected: no bid (8)"
    )


def test_zero_contracts_falls_back_to_stock_when_allowed():
    ctx, *_ = setup(cash=Decimal(4_000))  # budget 185.60 < 210 per contract
    sized = run_to_size(ctx)
    assert sized.trade is STOCK
    assert sized.quantity == Decimal(1)
    assert sized.contract is None
    assert "zero contracts" in sized.notes.fallback.reason


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
    limits = RiskLimits(day_trade_cutoff=time(15, 30))  # the cut-off the assertion names
    ctx, *_ = setup(
        rec_overrides={"instrument_type": InstrumentType.STOCK},
        policy=DispatchPolicy(risk=limits),
    )
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
    assert run_all(ctx).status is RecommendationStatus.EXECUTED  # rec-1 buys the shares
    entry = store.executions[client_order_id_for("rec-1")]
    bearish = {"instrument_type": InstrumentType.STOCK, "action": Action.SELL}
    store.add(recommendation("rec-2", ticker="XYZ", created_at=NOW, updated_at=NOW, **bearish))
    out = run_all(ctx, "rec-2")
    assert out.status is RecommendationStatus.EXECUTED
    row = store.executions[client_order_id_for("rec-2")]
    assert (row.action, row.quantity) == (Action.SELL, entry.filled_qty)
    assert (row.position_effect, row.closes_execution_id) == (PositionEffect.CLOSE, entry.id)
    assert broker.positions() == []


def test_a_bearish_stock_trade_never_sells_shares_strikeflow_did_not_buy():
    """Shares the venue holds with no entry of ours (bought elsewhere, or an entry whose
    fill came before its row): the SELL is refused and nothing is sold."""
    ctx, _market, store, _, broker, _ = setup(
        rec_overrides={"instrument_type": InstrumentType.STOCK}
    )
    broker.submit(OrderIntent("sf-elsewhere", "XYZ", Action.BUY, Decimal(7)))
    bearish = {"instrument_type": InstrumentType.STOCK, "action": Action.SELL}
    store.add(recommendation("rec-2", ticker="XYZ", created_at=NOW, updated_at=NOW, **bearish))
    with pytest.raises(DispatchRejected) as refused:
        run_all(ctx, "rec-2")
    assert str(refused.value) == (
        "no XYZ entry to close: the 7 shares the venue holds are not strikeflow's (bought"
        " elsewhere, or an entry not yet recorded), and allow_short is off"
    )
    assert [p.qty for p in broker.positions()] == [Decimal(7)]


def test_allow_short_lets_a_bearish_stock_trade_be_sized_as_before():
    rec = {"instrument_type": InstrumentType.STOCK, "action": Action.SELL}
    ctx, *_ = setup(rec_overrides=rec, policy=DispatchPolicy(allow_short=True))
    sized = run_to_size(ctx)
    assert sized.position_effect is PositionEffect.OPEN  # an entry, not a close
    assert sized.quantity > 0


# -- snapshot_price -----------------------------------------------------------------------


def test_snapshot_right_after_the_fetch_reuses_its_quotes():
    ctx, market, *_ = setup()
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    stock_calls = market.stock_calls
    later(ctx, 0.5)  # within requote_after_s (1 s)
    priced = snapshot_price(ctx, selected)
    assert (market.stock_calls, market.snapshot_calls) == (stock_calls, 0)
    assert priced.underlying == selected.underlying
    assert priced.option_quote.ask == selected.contract.ask


def test_snapshot_after_requote_after_s_asks_again():
    ctx, market, *_ = setup()
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    stock_calls = market.stock_calls
    later(ctx, 1.5)
    snapshot_price(ctx, selected)
    assert (market.stock_calls, market.snapshot_calls) == (stock_calls + 1, 1)


def test_requote_after_zero_always_asks_again():
    ctx, market, *_ = setup(policy=DispatchPolicy(requote_after_s=0))
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx, 0.001)
    snapshot_price(ctx, selected)
    assert market.snapshot_calls == 1


def test_requote_after_beyond_the_freshness_limit_is_refused():
    with pytest.raises(InvalidPolicy, match="requote_after_s"):
        DispatchPolicy(requote_after_s=31)


def test_stale_stock_quote_is_refetched():
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    market.quote_stock("XYZ", "100", "100", ages=[31, 1])
    assert snapshot_price(ctx, selected).underlying.ask == Decimal("100.01")


def test_quote_still_stale_after_refetch_is_rejected():
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    market.quote_stock("XYZ", "100", ages=[45])
    with pytest.raises(DispatchRejected, match="XYZ quote 45 s old > 30 s"):
        snapshot_price(ctx, selected)


def test_stale_option_quote_is_refetched_then_rejected():
    ctx, market, *_ = setup(listed(quote_age_s=45))  # fresh enough to select (60 s)
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    with pytest.raises(DispatchRejected, match="quote 47 s old > 30 s"):
        snapshot_price(ctx, selected)
    assert market.snapshot_calls == 2


def test_a_move_beyond_the_limit_reselects_the_option():
    ctx, market, store, *_ = setup()
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    assert selected.contract.strike == Decimal("100")
    market.quote_stock("XYZ", "103")
    decision = snapshot_price(ctx, selected)
    assert isinstance(decision, Reselection)  # fetches no chain itself
    assert decision.reselects == 1
    assert len(market.queries) == 1
    moved = reselect(ctx, decision)  # fetch_chain with the decision, select_contract
    assert moved.contract.strike == Decimal("103")
    assert moved.reselects == 1
    checked = snapshot_price(ctx, moved)
    assert isinstance(checked, PriceChecked)
    assert checked.contract.strike == Decimal("103")
    (check,) = checked.notes.price_checks  # the recorded decision rides along
    assert check.previous == "XYZ261119C00100000"
    assert "moved 3.00%" in check.moved
    assert check.action == "reselected"
    assert len(market.queries) == 2
    assert store.selections["rec-1"]["chosen"]["strike"] == "103"  # the latest selection


def test_the_record_of_a_reselected_order_keeps_the_price_check_whole():
    """What the execution keeps of the move: what moved, what was done, and the contract
    selected before (``dispatch explain`` prints "<moved>: <action>")."""
    ctx, market, store, *_ = setup()
    selected = hop(select_contract(ctx, hop(fetch_chain(ctx, "rec-1"))))
    later(ctx)
    market.quote_stock("XYZ", "103")
    placed = submit_order(ctx, hop(size_position(ctx, hop(price(ctx, selected)))))
    persist_execution(ctx, hop(placed))
    row = store.executions[client_order_id_for("rec-1")]
    assert row.option_symbol == "XYZ261119C00103000"
    (check,) = row.explain_json["price_checks"]
    assert check["previous"] == "XYZ261119C00100000"
    assert "moved 3.00%" in check["moved"]
    assert check["action"] == "reselected"


def test_a_second_move_after_reselecting_is_rejected():
    ctx, market, *_ = setup(policy=DispatchPolicy(requote_after_s=0))  # each check asks
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    market.quote_stock("XYZ", "103", "103", "106")  # snapshot, reselect, snapshot again
    decision = snapshot_price(ctx, selected)
    assert isinstance(decision, Reselection)
    with pytest.raises(DispatchRejected, match=r"price moved: XYZ moved 2\.91%") as refused:
        snapshot_price(ctx, reselect(ctx, decision))
    assert refused.value.explain["price_checks"][0]["previous"] == "XYZ261119C00100000"


def test_a_move_on_a_stock_trade_is_rejected():
    ctx, market, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    market.quote_stock("XYZ", "97.9")
    with pytest.raises(DispatchRejected, match=r"moved 2\.10%"):
        snapshot_price(ctx, selected)


def test_a_move_within_the_limit_keeps_the_selection():
    ctx, market, *_ = setup()
    selected = select_contract(ctx, fetch_chain(ctx, "rec-1"))
    later(ctx)
    market.quote_stock("XYZ", "102")
    checked = snapshot_price(ctx, selected)
    assert isinstance(checked, PriceChecked)  # no re-selection
    assert checked.contract == selected.contract
    assert checked.notes.price_checks == ()


# -- submit_order -----------------------------------------------------------------------


def test_kill_switch_on_sends_nothing():
    ctx, _, _, switch, broker, _ = setup()
    sized = run_to_size(ctx)
    ctx.broker = scripted = ScriptedBroker(broker)
    switch.on = True
    with pytest.raises(DispatchRejected, match="kill switch on"):
        submit_order(ctx, sized)
    assert scripted.submits == 0
    assert broker.order_by_client_id(sized.ticket.client_order_id) is None


def test_kill_switch_is_also_checked_in_size_position():
    ctx, _, _, switch, *_ = setup()
    switch.on = True
    with pytest.raises(DispatchRejected, match="risk: kill switch on"):
        run_to_size(ctx)


def test_a_duplicate_submit_finds_the_first_order_even_with_the_switch_on():
    ctx, _, _, switch, broker, _ = setup()
    sized = run_to_size(ctx)
    first = submit_order(ctx, sized).order
    assert submit_order(ctx, sized).order == first
    switch.on = True
    assert submit_order(ctx, sized).order == first
    assert broker.positions()[0].qty == Decimal(22)  # one order, not three


def test_broker_unavailable_propagates_and_a_retry_uses_the_same_id():
    ctx, _, _, _, broker, _ = setup()
    sized = run_to_size(ctx)
    ctx.broker = scripted = ScriptedBroker(broker, failures=1)
    with pytest.raises(BrokerUnavailable):
        submit_order(ctx, sized)
    order = submit_order(ctx, sized).order
    assert order.client_order_id == client_order_id_for("rec-1")
    assert scripted.submits == 2


def test_a_duplicate_after_a_simulated_fallback_never_reaches_the_venue():
    ctx, _, store, *_ = setup()
    sized = run_to_size(ctx)
    simulated = submit_order(ctx, sized)  # the fallback's simulated fill, persisted
    persist_execution(ctx, simulated)
    ctx.broker = venue = ScriptedBroker(OrderBook())  # the venue is back
    again = submit_order(ctx, sized)  # Celery delivers the step a second time
    assert venue.submits == 0
    assert again.order.execution_mode is ExecutionMode.SIMULATED
    assert again.order.id == simulated.order.id
    persist_execution(ctx, again)
    assert len(store.executions) == 1


def test_a_refused_order_is_one_rejected_row_with_alpacas_message():
    ctx, _, store, _, broker, _ = setup()
    sized = run_to_size(ctx)
    ctx.broker = ScriptedBroker(broker, reject=True)
    refused = submit_order(ctx, sized)  # no exception: the refusal is an order record
    assert refused.order.status is ExecutionStatus.REJECTED
    out = persist_execution(ctx, hop(refused))
    assert out.status is RecommendationStatus.REJECTED
    rec = store.recs["rec-1"]
    assert rec.status is RecommendationStatus.REJECTED
    assert "OrderRejected" in rec.status_reason
    assert "insufficient buying power" in rec.status_reason
    (row,) = store.executions.values()
    assert row.status is ExecutionStatus.REJECTED
    assert row.broker_order_id is None
    assert row.option_symbol == sized.contract.symbol  # what was refused
    assert row.explain_json["refusal"]["code"] == 40310000
    # a duplicate of the step stops at the recorded state; its errback changes nothing
    with pytest.raises(DispatchRejected, match="already rejected"):
        submit_order(ctx, sized)
    record_failure(ctx, "rec-1", "DispatchRejected", "recommendation already rejected")
    persist_execution(ctx, hop(refused))
    assert len(store.executions) == 1
    assert "insufficient buying power" in store.recs["rec-1"].status_reason


def test_submit_after_a_recorded_failure_sends_nothing():
    ctx, _, _, _, broker, _ = setup()
    sized = run_to_size(ctx)
    record_failure(ctx, "rec-1", "BrokerUnavailable", "gave up")
    with pytest.raises(DispatchRejected, match="already failed"):
        submit_order(ctx, sized)
    assert broker.order_by_client_id(sized.ticket.client_order_id) is None


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
    placed = submit_order(ctx, run_to_size(ctx))
    first = persist_execution(ctx, placed)
    writes = store.status_writes
    assert persist_execution(ctx, placed) == first
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
    # every candidate's reasons too, as stored: once, on the recommendation, by
    # select_contract (the refusal's explain no longer repeats them)
    assert "selection" not in store.explains["rec-1"]
    selection = store.selections["rec-1"]
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
    ctx, _, store, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    store.upsert_execution(stock_execution(client_order_id_for("rec-1"), "rec-1", ticker="XYZ"))
    record_failure(ctx, "rec-1", "WorkerLostError", "died after the insert")
    assert store.recs["rec-1"].status is RecommendationStatus.EXECUTED


def test_record_failure_after_a_stock_row_for_an_option_recommendation_is_fell_back():
    ctx, _, store, *_ = setup()  # a CALL recommendation; its chain traded the stock
    store.upsert_execution(stock_execution(client_order_id_for("rec-1"), "rec-1", ticker="XYZ"))
    record_failure(ctx, "rec-1", "WorkerLostError", "died after the insert")
    assert store.recs["rec-1"].status is RecommendationStatus.FELL_BACK


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
    sized = run_to_size(ctx)
    market.contracts = [replace(c, ask=Decimal("2.50")) for c in market.contracts]
    result = persist_execution(ctx, submit_order(ctx, sized))
    assert result.execution_status == "accepted"
    assert result.status is RecommendationStatus.EXECUTED
    row = store.executions[client_order_id_for("rec-1")]
    assert row.premium_paid == Decimal("2.10")
    assert row.filled_qty == 0
    assert row.explain_json["order_cost"] == "4620.00"
    assert row.expiration_date == date(2026, 11, 19)


# -- the selection report: kept once, by select_contract ----------------------------------


def test_the_report_of_a_chosen_contract_is_kept_once_and_only_by_select_contract():
    ctx, _, store, *_ = setup()
    writes = selection_writes(store)
    fetched = hop(fetch_chain(ctx, "rec-1"))
    assert writes == []
    selected = hop(select_contract(ctx, fetched))
    assert writes == ["rec-1"]
    placed = submit_order(ctx, hop(size_position(ctx, hop(price(ctx, selected)))))
    persist_execution(ctx, hop(placed))
    assert writes == ["rec-1"]  # no later step writes it again
    report = store.selections["rec-1"]
    assert report["chosen"]["symbol"] == selected.contract.symbol
    assert report["candidates"] > len(report["rejected"]) > 0
    row = store.executions[client_order_id_for("rec-1")]
    assert {"selection", "rejected", "candidates"}.isdisjoint(keys_in(row.explain_json))


def test_the_report_of_a_stock_fallback_is_kept_once_and_only_by_select_contract():
    ctx, _, store, *_ = setup(listed(bid="0.00"))
    writes = selection_writes(store)
    assert run_all(ctx).status is RecommendationStatus.FELL_BACK
    assert writes == ["rec-1"]
    report = store.selections["rec-1"]
    assert "chosen" not in report
    assert report["rejected_counts"] == {"no bid": 8}
    assert len(report["rejected"]) == 8
    row = store.executions[client_order_id_for("rec-1")]
    assert row.explain_json["fallback"]["counts"] == {"no bid": 8}  # the counts only
    assert {"selection", "rejected", "candidates"}.isdisjoint(keys_in(row.explain_json))


def test_a_refused_selection_keeps_its_report_too():
    ctx, _, store, *_ = setup(listed(bid="0.00"), policy=DispatchPolicy(stock_fallback=False))
    with pytest.raises(DispatchRejected) as refused:
        select_contract(ctx, fetch_chain(ctx, "rec-1"))
    assert store.selections["rec-1"]["rejected_counts"] == {"no bid": 8}
    assert "selection" not in (refused.value.explain or {})


def test_a_stock_recommendation_keeps_no_selection_report():
    ctx, _, store, *_ = setup(rec_overrides={"instrument_type": InstrumentType.STOCK})
    writes = selection_writes(store)
    assert run_all(ctx).status is RecommendationStatus.EXECUTED
    assert writes == []
    assert store.selections == {}


def simulating(market) -> FallbackBroker:
    """The fallback policy ``simulate``, its fills from a broker of its own."""
    return FallbackBroker(OrderBook(), SimulatedBroker(market, reason="venue down"), "simulate")


def test_after_the_last_retry_an_order_the_venue_took_is_the_one_recorded_not_a_simulation():
    """The submit reached the venue and lost its answer; the retries are spent: the
    venue, asked once more, holds the order, and that is the recommendation's."""
    ctx, market, _, _, broker, _ = setup()
    sized = run_to_size(ctx)
    at_venue = broker.submit(order_intent(ctx, sized))  # committed; the answer was lost
    down = BrokerUnavailable("submit_order", "read timeout", None)
    placed = fall_back(ctx, simulating(market), sized, down)
    assert placed.order == at_venue  # the venue's (this fake venue simulates its fills)
    assert not stood_in(placed)


def test_after_the_last_retry_a_venue_without_the_order_gets_a_simulated_stand_in():
    ctx, market, _, _, _, _ = setup()
    sized = run_to_size(ctx)
    down = BrokerUnavailable("submit_order", "read timeout", None)
    placed = fall_back(ctx, simulating(market), sized, down)
    assert stood_in(placed)


def test_after_the_last_retry_a_venue_that_cannot_be_asked_gets_a_simulated_stand_in():
    ctx, market, _, _, broker, _ = setup()
    sized = run_to_size(ctx)
    ctx.broker = ScriptedBroker(broker, failures=10)
    ctx.broker.order_by_client_id = _unreachable
    down = BrokerUnavailable("submit_order", "read timeout", None)
    placed = fall_back(ctx, simulating(market), sized, down)
    assert stood_in(placed)


def stood_in(placed) -> bool:
    """Whether the fallback's simulated fill stands in for the venue's order."""
    reason = placed.order.simulated_reason or ""
    return placed.order.execution_mode is ExecutionMode.SIMULATED and reason.startswith(
        "broker unavailable"
    )


def _unreachable(_client_order_id):
    raise BrokerUnavailable("order lookup", "connection refused", None)
