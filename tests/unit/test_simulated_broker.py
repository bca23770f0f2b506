"""SimulatedBroker fills at the quote, deterministically; FallbackBroker applies the policy.

Hand-written fakes of our own ports stand in for the market and the real broker.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from strikeflow.broker_adapters.fallback import FailurePolicy, FallbackBroker
from strikeflow.broker_adapters.simulated import SimulatedBroker, simulated_order_id
from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    OrderType,
    PositionEffect,
)
from strikeflow.domain.errors import BrokerError, BrokerUnavailable, OrderRejected
from strikeflow.domain.market import MarketClock, OptionQuote, StockQuote
from strikeflow.domain.orders import AccountSnapshot, BrokerOrder, OrderIntent, PositionSnapshot
from strikeflow.services.ports import Broker, MarketData

D = Decimal
NOW = datetime(2026, 11, 19, 15, 45, tzinfo=UTC)
CALL = "XYZ261218C00050000"


class FakeMarketData:
    """Quotes from a dict; everything else is not needed by the simulated broker."""

    def __init__(self) -> None:
        self.options = {CALL: (D("2.10"), D("2.20"))}
        self.stocks = {"XYZ": (D("49.98"), D("50.02"))}
        self.reads = 0
        self.down = False

    def option_chain(self, underlying, window, strikes=None, right=None):
        return []

    def option_snapshots(self, symbols):
        self.reads += 1
        if self.down:
            raise BrokerUnavailable("option snapshots", "connection refused")
        return {
            s: OptionQuote(s, *self.options[s], 10, 10, NOW) for s in symbols if s in self.options
        }

    def stock_quotes(self, symbols):
        self.reads += 1
        return {
            s: StockQuote(s, *self.stocks[s], 100, 100, NOW) for s in symbols if s in self.stocks
        }

    def stock_quote(self, symbol):
        self.reads += 1
        if symbol not in self.stocks:
            raise OrderRejected("stock quote", 422, 40010000, f"unknown symbol {symbol}")
        return StockQuote(symbol, *self.stocks[symbol], 100, 100, NOW)

    def stock_bars(self, symbols, timeframe, start, end):
        return {s: [] for s in symbols}

    def clock(self):
        return MarketClock(NOW, True, NOW, NOW)


class FakeBroker:
    """A real broker's stand-in: fails with ``failure`` if set, else accepts."""

    def __init__(self, failure: BrokerError | None = None) -> None:
        self.failure = failure
        self.orders: dict[str, BrokerOrder] = {}

    def account(self):
        return AccountSnapshot("real", "ACTIVE", D(1), D(1), D(1), D(1))

    def submit(self, intent):
        if self.failure is not None:
            raise self.failure
        order = BrokerOrder(
            id=f"real-{len(self.orders)}",
            client_order_id=intent.client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            qty=intent.qty,
            order_type=intent.order_type,
            status=ExecutionStatus.ACCEPTED,
            broker_status="accepted",
            broker=BrokerName.ALPACA,
            execution_mode=ExecutionMode.PAPER,
        )
        return self.orders.setdefault(intent.client_order_id, order)

    def order_by_client_id(self, cid):
        return self.orders.get(cid)

    def positions(self):
        return [PositionSnapshot("REAL", D(1), D(1))]


@pytest.fixture
def market() -> FakeMarketData:
    return FakeMarketData()


@pytest.fixture
def sim(market) -> SimulatedBroker:
    return SimulatedBroker(market, cash=D(10_000))


def buy(cid="cid-1", symbol=CALL, qty=1, **kw) -> OrderIntent:
    return OrderIntent(cid, symbol, Action.BUY, D(qty), **kw)


def test_the_fakes_and_the_adapters_implement_the_ports(market, sim):
    assert isinstance(market, MarketData)
    assert isinstance(FakeBroker(), Broker)
    assert isinstance(sim, Broker)


def test_buys_fill_at_the_ask_and_sells_at_the_bid(sim):
    bought = sim.submit(buy(qty=2))
    assert bought.status is ExecutionStatus.FILLED
    assert (bought.filled_qty, bought.filled_avg_price) == (D(2), D("2.20"))
    assert bought.execution_mode is ExecutionMode.SIMULATED
    assert bought.broker is BrokerName.SIMULATED
    assert bought.simulated_reason == "dry run"
    assert sim.account().cash == D(10_000) - D(440)
    sold = sim.submit(
        OrderIntent("cid-2", CALL, Action.SELL, D(2), position_effect=PositionEffect.CLOSE)
    )
    assert sold.filled_avg_price == D("2.10")
    assert sim.account().cash == D(10_000) - D(20)
    assert sim.positions() == []


def test_a_retry_returns_the_same_order_without_reading_the_market_again(sim, market):
    first = sim.submit(buy())
    reads = market.reads
    market.options[CALL] = (D("5.00"), D("5.10"))
    again = sim.submit(buy())
    assert again == first
    assert market.reads == reads
    assert first.id == simulated_order_id("cid-1") == str(uuid.UUID(first.id))
    assert SimulatedBroker(market).submit(buy()).id == first.id  # derived, not counted


def test_stock_orders_fill_per_share(sim):
    order = sim.submit(buy(symbol="XYZ", qty=10))
    assert order.filled_avg_price == D("50.02")
    assert sim.account().cash == D(10_000) - D("500.20")
    assert sim.positions() == [PositionSnapshot("XYZ", D(10), D("50.02"))]


def test_a_limit_short_of_the_quote_rests_unfilled(sim):
    order = sim.submit(buy(order_type=OrderType.LIMIT, limit_price=D("2.15")))
    assert order.status is ExecutionStatus.ACCEPTED
    assert order.filled_qty == 0
    assert sim.positions() == []
    assert sim.order_by_client_id("cid-1") == order


def test_refusals_are_classified(sim):
    with pytest.raises(OrderRejected, match="no quote"):
        sim.submit(buy(symbol="XYZ261218P00050000"))
    with pytest.raises(OrderRejected) as broke:
        sim.submit(buy(qty=100))
    assert broke.value.code == 40310000
    with pytest.raises(OrderRejected, match="insufficient qty"):
        sim.submit(OrderIntent("cid-s", CALL, Action.SELL, D(1), position_effect="CLOSE"))


def test_with_no_market_a_limit_fills_at_its_price_and_a_market_order_cannot(market):
    sim = SimulatedBroker(market, now=lambda: NOW)
    market.down = True
    order = sim.submit(buy(order_type=OrderType.LIMIT, limit_price=D("2.35")), reason="down")
    assert (order.filled_avg_price, order.filled_at) == (D("2.35"), NOW)
    assert order.simulated_reason == "down; no quote available, filled at the limit price"
    with pytest.raises(BrokerUnavailable):
        sim.submit(buy("cid-2"))


# -- the fallback policy ------------------------------------------------------------------


def test_an_unreachable_paper_venue_is_simulated_and_says_why(sim):
    failure = BrokerUnavailable("submit", "read timeout")
    broker = FallbackBroker(FakeBroker(failure), sim, FailurePolicy.SIMULATE, live=False)
    order = broker.fall_back(buy(), failure)
    assert order.execution_mode is ExecutionMode.SIMULATED
    assert order.status is ExecutionStatus.FILLED
    assert order.simulated_reason == f"broker unavailable: {failure}"
    assert order.explain()["simulated_reason"] == order.simulated_reason
    assert sim.order_by_client_id("cid-1") == order
    assert broker.fall_back(buy(), failure) == order  # the retry finds the simulated one


@pytest.mark.parametrize(
    "refused",
    [
        OrderRejected("submit", 403, 40310000, "insufficient buying power"),
        OrderRejected("submit", 422, 40010001, 'asset "XYZ" is not active'),
        OrderRejected("submit", 422, 40010001, "limit price must be > 0"),
        OrderRejected("submit", 401, None, "authentication failed: unauthorized."),
    ],
)
@pytest.mark.parametrize(("policy", "live"), [("simulate", False), ("reject", False)])
def test_a_refusal_is_never_simulated_whatever_the_policy(sim, refused, policy, live):
    broker = FallbackBroker(FakeBroker(refused), sim, policy, live=live)
    with pytest.raises(OrderRejected) as raised:
        broker.fall_back(buy(), refused)
    assert raised.value is refused
    assert sim.order_by_client_id("cid-1") is None


@pytest.mark.parametrize(
    ("policy", "live"), [("reject", False), ("simulate", True), ("reject", True)]
)
def test_reject_policy_and_live_trading_never_simulate(sim, policy, live):
    failure = BrokerUnavailable("submit", "connection refused")
    broker = FallbackBroker(FakeBroker(failure), sim, policy, live=live)
    with pytest.raises(BrokerUnavailable):
        broker.fall_back(buy(), failure)
    assert sim.order_by_client_id("cid-1") is None
