"""AlpacaAdapter against the running emulator: real HTTP, real alpaca-py, every port method."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.requests import OptionChainRequest

from strikeflow.broker_adapters.alpaca import market_data
from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret, Timeouts
from strikeflow.broker_adapters.fallback import FallbackBroker
from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.domain.enums import (
    Action,
    BarTimeframe,
    ExecutionMode,
    ExecutionStatus,
    PositionEffect,
    Right,
)
from strikeflow.domain.errors import BrokerError, BrokerUnavailable, OrderRejected
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import ExpiryWindow, StrikeBand
from strikeflow.domain.orders import BrokerOrder, OptionPricing, OrderIntent, client_order_id
from strikeflow.services.ports import Broker, MarketData
from tests.integration.emulator import KEY, SECRET, START, poll

TODAY = START.date()
D = Decimal


def make_adapter(url: str, **changes) -> AlpacaAdapter:
    fields = {"base_url": url, "timeouts": Timeouts(2.0, 5.0), **changes}
    return AlpacaAdapter(AlpacaConfig(Secret(KEY), Secret(SECRET), **fields))


@pytest.fixture
def adapter(emulator) -> Iterator[AlpacaAdapter]:
    made = make_adapter(emulator.url, contracts_page_size=50)
    yield made
    made.close()


def liquid_call(adapter: AlpacaAdapter, underlying: str = "SPY"):
    chain = adapter.option_chain(
        underlying,
        ExpiryWindow(TODAY + timedelta(days=7), TODAY + timedelta(days=14)),
        right=Right.CALL,
    )
    return min(
        (c for c in chain if c.bid > 0 and c.greeks is not None),
        key=lambda c: abs(c.greeks.delta - 0.5),
    )


def test_the_adapter_serves_both_ports(adapter):
    assert isinstance(adapter, MarketData)
    assert isinstance(adapter, Broker)


def test_account_clock_and_positions(adapter):
    account = adapter.account()
    assert account.buying_power == D(100_000)
    assert account.options_level == 2
    clock = adapter.clock()
    assert clock.is_open
    assert clock.timestamp == START
    assert adapter.positions() == []


def test_stock_quote_and_bars(adapter):
    quote = adapter.stock_quote("AAPL")
    assert 0 < quote.bid < quote.ask
    assert quote.time == START
    both = adapter.stock_quotes(["AAPL", "MSFT"])
    assert sorted(both) == ["AAPL", "MSFT"]
    assert both["AAPL"] == quote
    assert 0 < both["MSFT"].bid < both["MSFT"].ask
    assert adapter.stock_quotes([]) == {}
    bars = adapter.stock_bars(
        ["AAPL", "MSFT"], BarTimeframe.MINUTE, START - timedelta(hours=1), START
    )
    assert [len(bars["AAPL"]), len(bars["MSFT"])] == [60, 60]
    assert all(b.low <= b.open <= b.high and b.volume > 0 for b in bars["MSFT"])
    with pytest.raises(OrderRejected) as unknown:
        adapter.stock_quote("NOPE")
    assert unknown.value.status == 422


def test_daily_bars_close_where_the_minutes_close(adapter):
    """timeframe=1Day through alpaca-py: a bar per past session, stamped at New York
    midnight, whose close is the session's last minute's (what a scan's trend reads)."""
    start = START - timedelta(days=7)
    days = adapter.stock_bars(["AAPL"], BarTimeframe.DAY, start, START)["AAPL"]
    minutes = adapter.stock_bars(["AAPL"], BarTimeframe.MINUTE, start, START)["AAPL"]
    assert len(days) >= 4
    for day in days:
        local = day.time.astimezone(NEW_YORK)
        assert (local.hour, local.minute) == (0, 0)
        same = [m for m in minutes if m.time.astimezone(NEW_YORK).date() == local.date()]
        assert same
        assert day.close == same[-1].close
        assert day.volume == sum(m.volume for m in same)


def test_a_chain_over_many_pages_is_fetched_whole(adapter, emulator):
    window = ExpiryWindow(TODAY, TODAY + timedelta(days=14))
    paged = adapter.option_chain("SPY", window)  # 50 contracts a page
    # One page of the whole chain: a read the loaded suite has seen take over 5 s.
    roomy = Timeouts(2.0, 20.0)
    whole = make_adapter(emulator.url, contracts_page_size=10_000, timeouts=roomy).option_chain(
        "SPY", window
    )
    symbols = [c.symbol for c in paged]
    assert len(symbols) > 1_000  # more than twenty pages
    assert len(set(symbols)) == len(symbols)
    assert symbols == [c.symbol for c in whole]
    assert all(window.first <= c.expiration <= window.last for c in paged)
    assert sum(c.open_interest > 0 for c in paged) > len(paged) / 2
    assert all(c.multiplier == 100 and c.underlying == "SPY" for c in paged)


def test_the_chain_honours_strike_band_and_right(adapter):
    band = StrikeBand(D(200), D(240))
    chain = adapter.option_chain(
        "AAPL", ExpiryWindow(TODAY, TODAY + timedelta(days=14)), band, Right.PUT
    )
    assert chain
    assert all(c.right is Right.PUT and D(200) <= c.strike <= D(240) for c in chain)


def test_a_band_by_count_gets_each_expirys_strikes_nearest_spot(adapter):
    """ATM's band: two listed strikes on each side of spot per expiry, whatever their
    spacing, out of the venue's whole listing of the window."""
    window = ExpiryWindow(TODAY, TODAY + timedelta(days=14))
    quote = adapter.stock_quote("AAPL")
    spot = (quote.bid + quote.ask) / 2
    whole = adapter.option_chain("AAPL", window, StrikeBand.around(spot, D("0.2")), Right.CALL)
    picked = adapter.option_chain("AAPL", window, StrikeBand.nearest(spot, 2), Right.CALL)
    by_expiry: dict = {}
    for c in whole:
        by_expiry.setdefault(c.expiration, []).append(c.strike)
    expected = set()
    for day, strikes in by_expiry.items():
        below = sorted((k for k in strikes if k <= spot), reverse=True)[:2]
        above = sorted(k for k in strikes if k > spot)[:2]
        expected |= {(day, k) for k in below + above}
    assert len(by_expiry) >= 2
    assert len(whole) > len(picked) > 0
    assert {(c.expiration, c.strike) for c in picked} == expected
    assert len(picked) == 4 * len(by_expiry)


class CountingListings:
    """Wraps the listings client's get_option_contracts, counting the pages asked for."""

    def __init__(self, adapter: AlpacaAdapter) -> None:
        self.pages = 0
        client = adapter._clients.listings
        inner = client.get_option_contracts

        def counted(request):
            self.pages += 1
            return inner(request)

        client.get_option_contracts = counted


def test_the_days_listing_is_fetched_once_per_window_and_right(emulator):
    cached = make_adapter(emulator.url)
    pages = CountingListings(cached)
    window = ExpiryWindow(TODAY, TODAY + timedelta(days=1))
    wide, narrow = StrikeBand(D(500), D(700)), StrikeBand(D(560), D(600))
    first = cached.option_chain("SPY", window, wide, Right.CALL)
    second = cached.option_chain("SPY", window, narrow, Right.CALL)
    assert pages.pages == 1  # the band filters the cached listing
    assert {c.symbol for c in second} < {c.symbol for c in first}
    fresh = make_adapter(emulator.url, listing_ttl_s=0)
    assert second == fresh.option_chain("SPY", window, narrow, Right.CALL)
    cached.option_chain("SPY", window, narrow, Right.PUT)
    assert pages.pages == 2  # another right, another listing
    uncached = CountingListings(fresh)
    fresh.option_chain("SPY", window, narrow, Right.CALL)
    fresh.option_chain("SPY", window, narrow, Right.CALL)
    assert uncached.pages == 2  # ttl 0: listed every time


def test_greeks_come_as_the_venue_sent_them(adapter, emulator):
    """Null Greeks stay null (the selection backs out those it needs and says so); the
    ones the venue sent arrive as sent, at the four decimals it quotes."""
    window = ExpiryWindow(TODAY, TODAY + timedelta(days=14))
    raw = OptionHistoricalDataClient(KEY, SECRET, url_override=emulator.url).get_option_chain(
        OptionChainRequest(
            underlying_symbol="SPY", expiration_date_gte=TODAY, expiration_date_lte=window.last
        )
    )
    nulls = {s for s, snap in raw.items() if snap.greeks is None}
    assert len(nulls) > 10  # the emulator leaves ~5% without Greeks
    chain = {c.symbol: c for c in adapter.option_chain("SPY", window)}
    unsent = [chain[s] for s in nulls if s in chain]
    assert len(unsent) > 10
    assert all(c.greeks is None and c.implied_vol is None for c in unsent)
    sent = [c for s, c in chain.items() if s not in nulls]
    assert len(sent) > 10 * len(unsent)
    for c in sent:
        venue = raw[c.symbol]
        assert c.greeks.delta == venue.greeks.delta
        assert c.greeks.theta == venue.greeks.theta
        assert c.implied_vol == venue.implied_volatility
        assert c.greeks.delta == round(c.greeks.delta, 4)


def test_option_snapshots_omit_unknown_symbols(adapter):
    call = liquid_call(adapter)
    ghost = "SPY990115C00100000"
    quotes = adapter.option_snapshots([call.symbol, ghost, call.symbol])
    assert set(quotes) == {call.symbol}
    assert quotes[call.symbol].ask == call.ask


def test_an_option_order_is_placed_once_and_fills_at_the_ask(adapter, emulator):
    call = liquid_call(adapter)
    cid = client_order_id("rec-option-1")
    intent = OptionPricing().intent(cid, call.symbol, Action.BUY, D(2), call.bid, call.ask)
    placed = adapter.submit(intent)
    assert placed.status in (ExecutionStatus.SUBMITTED, ExecutionStatus.ACCEPTED)
    assert placed.execution_mode is ExecutionMode.PAPER
    assert placed.position_intent == "buy_to_open"
    assert placed.limit_price == call.ask
    assert adapter.submit(intent).id == placed.id  # found by its client_order_id
    emulator.advance(seconds=5)
    filled = poll(
        lambda: adapter.order_by_client_id(cid), lambda o: o.status is ExecutionStatus.FILLED
    )
    assert filled.filled_qty == 2
    assert filled.filled_avg_price <= call.ask
    assert [e["client_order_id"] for e in emulator.audit()] == [cid]
    held = {p.symbol: p for p in adapter.positions()}
    assert held[call.symbol].qty == 2
    closing = adapter.submit(
        OrderIntent(
            client_order_id("rec-option-1", "close"),
            call.symbol,
            Action.SELL,
            D(2),
            position_effect=PositionEffect.CLOSE,
        )
    )
    assert closing.position_intent == "sell_to_close"


def test_rejections_carry_alpacas_code_and_message(adapter):
    with pytest.raises(OrderRejected) as broke:
        adapter.submit(OrderIntent(client_order_id("rec-broke"), "SPY", Action.BUY, D(100_000)))
    assert (broke.value.status, broke.value.code) == (403, 40310000)
    assert broke.value.message == "insufficient buying power"
    with pytest.raises(OrderRejected) as unknown:
        adapter.submit(OrderIntent(client_order_id("rec-ghost"), "ZZZZ", Action.BUY, D(1)))
    assert (unknown.value.status, unknown.value.code) == (422, 40010001)
    assert "ZZZZ" in unknown.value.message
    assert adapter.order_by_client_id(client_order_id("rec-broke")) is None


def requests_seen(emulator) -> int:
    return emulator.faults()["counts"].get("requests", 0)


def test_a_validation_error_is_refused_after_one_post_never_looked_up(adapter, emulator):
    expired = "SPY261113C00600000"  # expired the week before START: no longer listed
    before = requests_seen(emulator)
    with pytest.raises(OrderRejected) as inactive:
        adapter.submit(OrderIntent(client_order_id("rec-expired"), expired, Action.BUY, D(1)))
    assert (inactive.value.status, inactive.value.code) == (422, 40010001)
    assert inactive.value.message == f"asset {expired} not found"
    assert requests_seen(emulator) - before == 1  # the POST alone: no lookup, no retry
    assert emulator.audit() == []


def submit_or_fall_back(
    adapter: AlpacaAdapter, fallback: FallbackBroker, intent: OrderIntent
) -> BrokerOrder:
    """The venue's order, or the fallback's answer to its failure (as submit_order does
    once its retries are spent)."""
    try:
        return adapter.submit(intent)
    except BrokerError as failure:
        return fallback.fall_back(intent, failure)


def test_fallback_simulates_what_the_venue_cannot_take_never_what_it_refuses(adapter, emulator):
    simulated = SimulatedBroker(adapter, cash=D(10_000_000))
    broker = FallbackBroker(adapter, simulated, "simulate", live=adapter.config.live)
    big_buy = OrderIntent(client_order_id("rec-big"), "SPY", Action.BUY, D(1_000))
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        submit_or_fall_back(adapter, broker, big_buy)
    assert simulated.order_by_client_id(big_buy.client_order_id) is None
    emulator.faults(error_5xx=1.0)  # down for orders and for quotes
    call = "SPY261218C00600000"
    limit = OrderIntent(client_order_id("rec-down"), call, Action.BUY, D(1), "limit", D("3.10"))
    down = submit_or_fall_back(adapter, broker, limit)
    assert (down.execution_mode, down.filled_avg_price) == (ExecutionMode.SIMULATED, D("3.10"))
    assert "broker unavailable" in down.simulated_reason
    assert submit_or_fall_back(adapter, broker, limit) == down  # the simulated order again
    emulator.faults(error_5xx=0.0)
    assert emulator.audit() == []  # nothing reached the venue's book


def test_live_trading_never_falls_back(emulator):
    live = make_adapter(emulator.url, paper=False)
    broker = FallbackBroker(live, SimulatedBroker(live), "simulate", live=live.config.live)
    with pytest.raises(OrderRejected):
        submit_or_fall_back(
            live, broker, OrderIntent(client_order_id("rec-live"), "SPY", Action.BUY, D(1_000))
        )
    assert live.execution_mode is ExecutionMode.LIVE


class BlindFirstLookup(AlpacaAdapter):
    """Misses the order on its first lookup, as one that races the venue's commit would."""

    blind = True

    def order_by_client_id(self, cid):
        if self.blind:
            self.blind = False
            return None
        return super().order_by_client_id(cid)


def test_a_duplicate_client_order_id_returns_the_existing_order(adapter, emulator):
    intent = OrderIntent(client_order_id("rec-dup"), "MSFT", Action.BUY, D(1))
    first = adapter.submit(intent)
    again = make_adapter(emulator.url)  # another worker: no state shared but the venue
    assert again.submit(intent) == first  # the POST got 422 40010001, then a lookup
    assert len(emulator.audit()) == 1


def test_a_duplicate_not_yet_visible_is_retried_not_refused(adapter, emulator):
    intent = OrderIntent(client_order_id("rec-dup-race"), "MSFT", Action.BUY, D(1))
    first = adapter.submit(intent)
    racing = BlindFirstLookup(adapter.config)
    with pytest.raises(BrokerUnavailable, match="duplicate reported but not found"):
        racing.submit(intent)
    assert racing.submit(intent) == first  # the retry's duplicate resolves to the order
    assert len(emulator.audit()) == 1


def test_alpaca_py_does_not_retry_a_rate_limit_behind_our_back(adapter, emulator):
    emulator.faults(rate_limit=1.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as limited:
        adapter.account()
    assert limited.value.status == 429
    assert time.monotonic() - started < 1.0  # alpaca-py's own retry sleeps 3 s
    report = emulator.faults(rate_limit=0.0)
    assert report["counts"]["429"] == 1


@pytest.fixture
def silent_venue() -> Iterator[str]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("call", ["account", "submit", "option_snapshots"])
def test_a_silent_venue_times_out_instead_of_hanging(silent_venue, call):
    adapter = make_adapter(silent_venue, timeouts=Timeouts(1.0, 0.3))
    action = {
        "account": adapter.account,
        "submit": lambda: adapter.submit(
            OrderIntent(client_order_id("rec-silent"), "AAPL", Action.BUY, D(1))
        ),
        "option_snapshots": lambda: adapter.option_snapshots(["SPY261218C00500000"]),
    }[call]
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as timed_out:
        action()
    assert time.monotonic() - started < 2.0
    assert "read timeout" in str(timed_out.value)


def test_a_closed_port_is_unavailable_not_an_exception_leak():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens
    adapter = make_adapter(f"http://127.0.0.1:{port}")
    with pytest.raises(BrokerUnavailable, match="ConnectionError"):
        adapter.clock()


def test_a_chain_wider_than_a_page_is_asked_for_in_runs_of_expiries_at_once(
    adapter, emulator, monkeypatch
):
    """More than a page of snapshots: one request per run of expiries that fits a page,
    sent together, instead of page after page; the same chain either way."""
    window = ExpiryWindow(TODAY, TODAY + timedelta(days=14))
    quote = adapter.stock_quote("SPY")
    band = StrikeBand.around((quote.bid + quote.ask) / 2, D("0.05"))
    whole = adapter.option_chain("SPY", window, band, Right.CALL)  # under a page: one request
    routes = emulator.faults()["counts"]
    chains = "requests GET /v1beta1/options/snapshots/{}"
    before = routes.get(chains, 0)
    monkeypatch.setattr(market_data, "SNAPSHOT_PAGE", max(1, len(whole) // 3))
    runs = adapter.option_chain("SPY", window, band, Right.CALL)
    asked = emulator.faults()["counts"][chains] - before
    assert len({c.expiration for c in whole}) >= 3
    assert asked >= 3
    assert [c.symbol for c in runs] == [c.symbol for c in whole]
    assert [c.bid for c in runs] == [c.bid for c in whole]
