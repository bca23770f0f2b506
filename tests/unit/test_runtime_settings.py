"""What build_runtime wires from the environment: the broker-failure policy
(STRIKEFLOW_ON_BROKER_FAILURE, STRIKEFLOW_ALPACA_PAPER), the option order pricing and
the risk limits the steps run by, and the clock; and every piece handed in instead
replaces the one it would build."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow import bootstrap
from strikeflow.app_state.in_process import (
    InProcessCooldown,
    InProcessKillSwitch,
    InProcessScanLock,
    InProcessSharedCache,
)
from strikeflow.config import Settings
from strikeflow.domain.enums import Action, ExecutionMode, ExecutionStatus, OrderType
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.market import MarketClock, OptionQuote, StockQuote
from strikeflow.domain.orders import OrderIntent
from strikeflow.signals.rules_file import default_rules

VENUE_NOW = datetime(2037, 11, 16, 15, 45, tzinfo=UTC)
BID, ASK = Decimal("1.20"), Decimal("1.40")


class QuotingMarket:
    """The MarketData calls the simulated broker and the clock make: one stock quote."""

    def stock_quotes(self, symbols):
        return {s: self.stock_quote(s) for s in symbols}

    def stock_quote(self, symbol: str) -> StockQuote:
        return StockQuote(symbol, Decimal("49.98"), Decimal("50.02"), 100, 100, VENUE_NOW)

    def option_snapshots(self, symbols) -> dict[str, OptionQuote]:
        return {}

    def clock(self) -> MarketClock:
        return MarketClock(VENUE_NOW, True, VENUE_NOW, VENUE_NOW + timedelta(hours=5))


class UnreachableBroker:
    """A venue that is down: every submit fails as the adapter's would."""

    def submit(self, intent: OrderIntent):
        raise BrokerUnavailable("submit order", "connection refused")

    def order_by_client_id(self, client_order_id: str):
        return None


class Recommendations:
    """Stands in for the recommendation store; nothing here reads it."""


def wired(**overrides) -> bootstrap.Runtime:
    """A runtime from the environment's Settings, every port a fake: nothing connects."""
    pieces = {
        "market": QuotingMarket(),
        "broker": UnreachableBroker(),
        "store": object(),
        "recommendations": Recommendations(),
        "kill_switch": InProcessKillSwitch(),
        "scan_lock": InProcessScanLock(),
        "cooldown": InProcessCooldown(),
        "shared": InProcessSharedCache(),
        "rules": default_rules(),
    }
    return bootstrap.build_runtime(Settings(), **{**pieces, **overrides})


def stock_buy() -> OrderIntent:
    return OrderIntent("sf-open-test", "XYZ", Action.BUY, Decimal(10))


def venue_down() -> BrokerUnavailable:
    return BrokerUnavailable("submit order", "connection refused")


def test_simulate_answers_the_venues_last_failure_with_a_simulated_fill(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_ON_BROKER_FAILURE", "simulate")
    monkeypatch.setenv("STRIKEFLOW_ALPACA_PAPER", "true")
    order = wired().fallback.fall_back(stock_buy(), venue_down())
    assert order.execution_mode is ExecutionMode.SIMULATED
    assert order.status is ExecutionStatus.FILLED
    assert "connection refused" in order.simulated_reason


@pytest.mark.parametrize(("policy", "paper"), [("reject", "true"), ("simulate", "false")])
def test_reject_or_live_trading_lets_the_failure_stand(monkeypatch, policy, paper):
    monkeypatch.setenv("STRIKEFLOW_ON_BROKER_FAILURE", policy)
    monkeypatch.setenv("STRIKEFLOW_ALPACA_PAPER", paper)
    failure = venue_down()
    with pytest.raises(BrokerUnavailable) as raised:
        wired().fallback.fall_back(stock_buy(), failure)
    assert raised.value is failure


def test_a_refusal_is_never_simulated_even_under_simulate(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_ON_BROKER_FAILURE", "simulate")
    monkeypatch.setenv("STRIKEFLOW_ALPACA_PAPER", "true")
    refused = OrderRejected("submit order", 422, 40010001, "limit price must be > 0")
    with pytest.raises(OrderRejected) as raised:
        wired().fallback.fall_back(stock_buy(), refused)
    assert raised.value is refused


def test_the_pricing_settings_reach_the_steps_policy(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_OPTION_ORDER_PRICING", "marketable_limit")
    monkeypatch.setenv("STRIKEFLOW_OPTION_SPREAD_FRACTION", "0.25")
    pricing = wired().context.policy.pricing
    assert pricing.price(Action.BUY, BID, ASK, "XYZ") == (OrderType.LIMIT, Decimal("1.35"))
    monkeypatch.setenv("STRIKEFLOW_OPTION_ORDER_PRICING", "market")
    pricing = wired().context.policy.pricing
    assert pricing.price(Action.BUY, BID, ASK, "XYZ") == (OrderType.MARKET, None)


def test_the_off_hours_setting_reaches_the_steps_policy(monkeypatch):
    monkeypatch.delenv("STRIKEFLOW_OFF_HOURS", raising=False)
    assert wired().context.policy.off_hours == "refuse"
    monkeypatch.setenv("STRIKEFLOW_OFF_HOURS", "queue")
    assert wired().context.policy.off_hours == "queue"


def test_the_risk_settings_reach_the_steps_policy(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_RISK_MAX_OPEN_POSITIONS", "7")
    monkeypatch.setenv("STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER", "0")
    risk = wired().context.policy.risk
    assert risk.max_open_positions == 7
    assert risk.max_exposure_per_ticker is None


def test_the_rules_file_decides_shorting(tmp_path, monkeypatch):
    rules = tmp_path / "rules.toml"
    rules.write_text("[stock]\nallow_short = true\n")
    monkeypatch.setenv("STRIKEFLOW_RULES_FILE", str(rules))
    assert wired(rules=None).context.policy.allow_short is True
    monkeypatch.delenv("STRIKEFLOW_RULES_FILE")
    assert wired(rules=None).context.policy.allow_short is False


def test_clock_market_is_the_venues_time_and_wall_the_hosts(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_CLOCK", "market")
    rt = wired()
    assert rt.context.now() == VENUE_NOW
    assert rt.scan.now is rt.context.now
    monkeypatch.setenv("STRIKEFLOW_CLOCK", "wall")
    before = datetime.now(UTC)
    assert before <= wired().context.now() <= datetime.now(UTC)


class MovingClockMarket(QuotingMarket):
    """A venue whose clock moves a minute each time it is read (a backtest's jumps)."""

    def __init__(self) -> None:
        self.reads = 0

    def clock(self) -> MarketClock:
        self.reads += 1
        at = VENUE_NOW + timedelta(minutes=self.reads)
        return MarketClock(at, True, at, at + timedelta(hours=5))


@pytest.mark.parametrize(("ttl", "reads"), [("0", 3), ("60", 1)])
def test_the_clock_ttl_decides_how_often_the_venues_clock_is_read(monkeypatch, ttl, reads):
    monkeypatch.setenv("STRIKEFLOW_CLOCK", "market")
    monkeypatch.setenv("STRIKEFLOW_CLOCK_TTL_S", ttl)
    market = MovingClockMarket()
    now = wired(market=market).context.now
    seen = [now() for _ in range(3)]
    assert market.reads == reads
    assert len(set(seen)) == reads  # each reading is the venue's time as read


def test_the_work_timer_parks_a_worked_orders_next_step_on_the_venues_clock(monkeypatch):
    from strikeflow.services.working_orders import NextStep
    from strikeflow.tasks.working import parked_step, send

    monkeypatch.setenv("STRIKEFLOW_CLOCK", "market")
    monkeypatch.setenv("STRIKEFLOW_WORK_TIMER", "parked")
    monkeypatch.setenv("STRIKEFLOW_REDIS_URL", "memory://work-timer-test")
    bootstrap.install_runtime(wired())
    try:
        send(NextStep("rec-1", 2, wait_s=20.0, left_s=10.0))  # the whole wait at once
    finally:
        bootstrap.reset_runtime()
    parked = bootstrap.parked_steps("memory://work-timer-test")
    assert parked.take_due(VENUE_NOW + timedelta(seconds=29)) is None
    due, payload = parked.take_due(VENUE_NOW + timedelta(seconds=30))
    assert due == VENUE_NOW + timedelta(seconds=30)
    assert parked_step(payload) == ("rec-1", 2)


def test_each_piece_handed_in_is_the_one_wired():
    market, broker, store = QuotingMarket(), UnreachableBroker(), object()
    recommendations, switch = Recommendations(), InProcessKillSwitch()
    lock, cooldown, rules = InProcessScanLock(), InProcessCooldown(), default_rules()

    def now() -> datetime:
        return VENUE_NOW

    fallback = object()
    rt = bootstrap.build_runtime(
        Settings(),
        market=market,
        broker=broker,
        store=store,
        recommendations=recommendations,
        kill_switch=switch,
        scan_lock=lock,
        cooldown=cooldown,
        now=now,
        rules=rules,
        fallback=fallback,
    )
    ctx, scan = rt.context, rt.scan
    assert (ctx.market, ctx.broker, ctx.store, ctx.kill_switch, ctx.now) == (
        market,
        broker,
        store,
        switch,
        now,
    )
    assert (scan.market, scan.broker, scan.store, scan.lock, scan.cooldown) == (
        market,
        broker,
        recommendations,
        lock,
        cooldown,
    )
    assert scan.rules is rules
    assert scan.now is now
    assert rt.recommendations is recommendations
    assert rt.fallback is fallback


VENUE_ENV = {
    "STRIKEFLOW_ALPACA_API_KEY": "PKTESTKEY0123456789",
    "STRIKEFLOW_ALPACA_SECRET_KEY": "s3cr3t-VALUE-abcdefghijklmnop",
    "STRIKEFLOW_ALPACA_BASE_URL": "http://127.0.0.1:9",
    "STRIKEFLOW_REDIS_URL": "memory://runtime-settings",
}


def test_the_shared_cache_reaches_the_steps_the_scans_and_the_venues_listings(monkeypatch):
    for name, value in VENUE_ENV.items():
        monkeypatch.setenv(name, value)
    shared = InProcessSharedCache()
    runtime = wired(market=None, broker=None, shared=shared)
    assert runtime.context.shared is shared
    assert runtime.scan is not None
    assert runtime.scan.shared is shared
    listings = runtime.context.market._listings  # the adapter's: built here, not handed in
    listings.get(("SPY", VENUE_NOW.date(), VENUE_NOW.date(), None), list)
    assert shared.get(f"listing:http://127.0.0.1:9:SPY:{VENUE_NOW.date()}:{VENUE_NOW.date()}:any")


def test_the_command_lines_venue_is_built_from_the_settings_alone(monkeypatch):
    for name, value in VENUE_ENV.items():
        monkeypatch.setenv(name, value)
    venue = bootstrap.venue_broker()  # builds, connects to nothing
    assert "127.0.0.1:9" in repr(venue)
