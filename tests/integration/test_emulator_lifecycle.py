"""A day at the emulated venue through alpaca-py: options bought in the morning, exercised
(shares delivered) or expired at the close; and the same seed giving the same market, byte
for byte."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import requests
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import OptionChainRequest, StockBarsRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.occ import parse_occ
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle, poll


@pytest.fixture
def clients(emulator):
    def make(kind):
        return kind(KEY, SECRET, url_override=emulator.url)

    return (
        TradingClient(KEY, SECRET, paper=True, url_override=emulator.url),
        make(StockHistoricalDataClient),
        make(OptionHistoricalDataClient),
    )


def contract(chain, right: str, strike: float) -> str:
    wanted = Decimal(str(strike))
    return next(s for s in chain if parse_occ(s).right == right and parse_occ(s).strike == wanted)


def buy(trading, symbol: str, qty: int, cid: str):
    trading.submit_order(
        MarketOrderRequest(
            symbol=symbol,
            qty=qty,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id=cid,
        )
    )


def test_expiry_delivers_shares_for_itm_and_lets_otm_expire(emulator, clients):
    trading, stocks, options = clients
    today = START.date()
    chain = options.get_option_chain(
        OptionChainRequest(underlying_symbol="SPY", expiration_date=today)
    )
    latest = stocks.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))
    spot = float(latest["SPY"].price)
    strikes = sorted({float(parse_occ(s).strike) for s in chain})
    itm_call_k = max(k for k in strikes if k <= spot - 8)
    otm_put_k = min(k for k in strikes if k >= spot - 40)  # far below spot: worthless
    itm_call = next(
        s
        for s in chain
        if parse_occ(s).right == "C" and parse_occ(s).strike == Decimal(str(itm_call_k))
    )
    otm_put = next(
        s
        for s in chain
        if parse_occ(s).right == "P" and parse_occ(s).strike == Decimal(str(otm_put_k))
    )

    buy(trading, itm_call, 1, "exp-call")  # 100 shares at the strike: cash enough
    buy(trading, otm_put, 1, "exp-put")
    emulator.advance(seconds=2)
    for cid in ("exp-call", "exp-put"):
        order = trading.get_order_by_client_id(cid)
        assert order.status == OrderStatus.FILLED
    held = {p.symbol: p for p in trading.get_all_positions()}
    assert set(held) == {itm_call, otm_put}
    assert held[itm_call].exchange == ""
    assert held[itm_call].qty == "1"
    cash_after_fills = Decimal(trading.get_account().cash)

    emulator.advance(to=datetime.combine(today, time(16, 5), NEW_YORK).isoformat())
    (shares,) = trading.get_all_positions()  # the call delivered; the put expired
    assert (shares.symbol, shares.qty) == ("SPY", "100")
    closing_bar = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="SPY",
            timeframe=TimeFrame.Minute,
            start=datetime.combine(today, time(15, 59), NEW_YORK),
            end=datetime.combine(today, time(16, 0), NEW_YORK),
        )
    )["SPY"][-1]
    settle = Decimal(str(closing_bar.close))
    assert settle > Decimal(str(itm_call_k))
    assert settle > Decimal(str(otm_put_k))
    paid = Decimal(str(itm_call_k)) * 100
    assert Decimal(trading.get_account().cash) == cash_after_fills - paid
    assert Decimal(shares.cost_basis) == paid
    reply = requests.get(
        f"{emulator.url}/v2/account/activities",
        params={"direction": "asc", "activity_types": "OPEXC,OPTRD,OPEXP"},
        headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET},
        timeout=10,
    )
    assert [(a["activity_type"], a["symbol"], a["qty"]) for a in reply.json()] == [
        ("OPEXC", itm_call, "1"),
        ("OPTRD", "SPY", "100"),
        ("OPEXP", otm_put, "1"),
    ]


def test_a_day_order_left_unfilled_expires_at_the_close(emulator, clients):
    trading, _, _ = clients

    trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=1.00,  # far below the market: never crosses
            client_order_id="never-fills",
        )
    )
    emulator.advance(seconds=5)
    assert trading.get_order_by_client_id("never-fills").status == OrderStatus.NEW
    emulator.advance(to=datetime.combine(START.date(), time(16, 1), NEW_YORK).isoformat())
    order = poll(
        lambda: trading.get_order_by_client_id("never-fills"),
        lambda o: o.status == OrderStatus.EXPIRED,
    )
    assert order.filled_qty == "0"
    assert float(trading.get_account().buying_power) == 100_000  # the reserve is released


def market_bytes(url: str) -> list[bytes]:
    session = requests.Session()
    session.headers.update({"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    three_days_back = (START - timedelta(days=3)).isoformat()
    paths = [
        "/v1beta1/options/snapshots/AAPL?limit=200",
        "/v2/options/contracts?underlying_symbols=NVDA&limit=300",
        f"/v2/stocks/bars?symbols=TSLA,SPY&timeframe=1Min&start={three_days_back}",
        "/v2/stocks/quotes/latest?symbols=AAPL,MSFT,QQQ",
    ]
    replies = [session.get(url + p.replace("+", "%2B"), timeout=30) for p in paths]
    assert all(r.status_code == 200 for r in replies), [r.text[:200] for r in replies]
    return [r.content for r in replies]


def emulator_options(seed: int) -> EmulatorOptions:
    return EmulatorOptions(seed=seed, start=START, api_key=KEY, secret_key=SECRET)


def test_the_same_seed_gives_the_same_market():
    with running_emulator(emulator_options(42)) as first_url:
        first = market_bytes(first_url)
        EmulatorHandle(first_url).advance(seconds=3_600)
        later = market_bytes(first_url)
    assert later != first  # the market moved with the clock: replaying it is not trivial
    with running_emulator(emulator_options(42)) as second_url:
        handle = EmulatorHandle(second_url)
        assert market_bytes(second_url) == first
        handle.advance(seconds=3_600)
        assert market_bytes(second_url) == later
    with running_emulator(emulator_options(43)) as other_url:
        assert market_bytes(other_url)[2] != first[2]  # another seed, other bars
