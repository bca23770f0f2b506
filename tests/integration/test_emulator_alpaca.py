"""The unmodified alpaca-py clients against a running emulator, over real HTTP.

No raw_data: every response goes through alpaca-py's own models, which must validate
without warnings (the suite turns warnings into errors).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import OptionsFeed
from alpaca.data.requests import (
    OptionChainRequest,
    OptionSnapshotRequest,
    StockBarsRequest,
    StockLatestQuoteRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetCalendarRequest,
    GetOptionContractsRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)

from strikeflow.domain.occ import parse_occ
from tests.integration.emulator import START, poll


def test_account_money_fields_are_strings_that_parse(trading):
    account = trading.get_account()
    assert float(account.buying_power) == 100_000
    assert float(account.options_buying_power) == 100_000
    assert account.options_approved_level == 2
    assert str(account.status) in ("AccountStatus.ACTIVE", "ACTIVE")


def test_requests_without_the_keys_are_refused(emulator):
    anonymous = TradingClient("wrong", "keys", paper=True, url_override=emulator.url)
    with pytest.raises(APIError) as refused:
        anonymous.get_account()
    assert refused.value.status_code == 401
    bare = requests.get(f"{emulator.url}/v2/account", timeout=5)
    assert bare.status_code == 401
    assert bare.json() == {"message": "unauthorized."}  # as Alpaca: no code


def test_clock_and_calendar_follow_simulated_time(trading):
    clock = trading.get_clock()
    assert clock.is_open
    assert clock.timestamp.date() == START.date()
    days = trading.get_calendar(
        GetCalendarRequest(start=START.date(), end=START.date() + timedelta(days=14))
    )
    dates = [d.date for d in days]
    assert START.date() in dates
    assert all(d.weekday() < 5 for d in dates)
    thanksgiving = START.date().replace(day=26)  # Thursday 26 November 2026
    assert thanksgiving not in dates
    friday_after = next(d for d in days if d.date == thanksgiving + timedelta(days=1))
    assert friday_after.close.hour == 13  # early close


def test_contract_pagination_walks_every_page(trading):
    seen, token = [], None
    while True:
        response = trading.get_option_contracts(
            GetOptionContractsRequest(
                underlying_symbols=["AAPL"],
                expiration_date_lte=START.date() + timedelta(days=30),
                limit=50,
                page_token=token,
            )
        )
        seen += response.option_contracts
        token = response.next_page_token
        if token is None:
            break
    symbols = [c.symbol for c in seen]
    assert len(symbols) > 100
    assert len(symbols) == len(set(symbols))
    assert all(parse_occ(s).root == "AAPL" for s in symbols)
    assert all(c.size == "100" for c in seen)


def test_a_chain_across_pages_with_null_greeks_somewhere(options_data):
    chain = options_data.get_option_chain(
        OptionChainRequest(
            underlying_symbol="SPY",
            feed=OptionsFeed.INDICATIVE,
            expiration_date_lte=START.date() + timedelta(days=14),
        )
    )
    assert len(chain) > 1_000  # alpaca-py followed more than ten pages of 100
    assert any(s.greeks is None for s in chain.values())
    assert any(s.greeks is not None and s.implied_volatility for s in chain.values())
    assert all(s.latest_quote.bid_price <= s.latest_quote.ask_price for s in chain.values())


def test_snapshots_by_symbol_omit_unknown_ones(options_data):
    chain = options_data.get_option_chain(OptionChainRequest(underlying_symbol="AAPL"))
    some = sorted(chain)[:3]
    ghost = "AAPL990115C00100000"
    snaps = options_data.get_option_snapshot(
        OptionSnapshotRequest(symbol_or_symbols=[*some, ghost])
    )
    assert set(snaps) == set(some)


def test_stock_quotes_and_bars(stocks):
    quotes = stocks.get_stock_latest_quote(
        StockLatestQuoteRequest(symbol_or_symbols=["AAPL", "SPY"])
    )
    assert quotes["AAPL"].bid_price < quotes["AAPL"].ask_price
    bars = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["AAPL", "MSFT"],
            timeframe=TimeFrame.Minute,
            start=START - timedelta(hours=1),
            end=START,
        )
    )
    assert len(bars["AAPL"]) == 60
    assert all(b.low <= b.open <= b.high and b.volume > 0 for b in bars["MSFT"])


def test_market_and_limit_orders_for_stocks_and_options(trading, emulator, options_data):
    stock = trading.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id="sf-t-stock-1",
        )
    )
    assert stock.status in (OrderStatus.ACCEPTED, OrderStatus.NEW, OrderStatus.PENDING_NEW)
    symbol = _liquid_call(options_data)
    option = trading.submit_order(
        LimitOrderRequest(
            symbol=symbol,
            qty=2,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=99.0,
            client_order_id="sf-t-call-1",
        )
    )
    assert option.symbol == symbol
    occ = parse_occ(symbol)
    listed = trading.get_option_contracts(
        GetOptionContractsRequest(
            underlying_symbols=["SPY"],
            expiration_date=occ.expiration,
            strike_price_gte=str(occ.strike),
            strike_price_lte=str(occ.strike),
        )
    )
    (contract,) = [c for c in listed.option_contracts if c.symbol == symbol]
    assert str(contract.id) == str(option.asset_id)  # one id per asset, as Alpaca has it
    emulator.advance(seconds=5)
    filled = poll(
        lambda: trading.get_order_by_client_id("sf-t-call-1"),
        lambda o: o.status == OrderStatus.FILLED,
    )
    assert float(filled.filled_qty) == 2
    assert float(filled.filled_avg_price) < 99.0  # a marketable limit fills at the ask
    positions = {p.symbol: p for p in trading.get_all_positions()}
    assert float(positions[symbol].qty) == 2
    assert positions[symbol].exchange == ""


def test_duplicate_client_order_id_is_422_with_alpacas_code(trading):
    request = MarketOrderRequest(
        symbol="SPY",
        qty=1,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        client_order_id="sf-t-dup-1",
    )
    trading.submit_order(request)
    with pytest.raises(APIError) as refused:
        trading.submit_order(request)
    assert refused.value.status_code == 422
    assert refused.value.code == 40010001


def test_insufficient_buying_power_is_403(trading):
    with pytest.raises(APIError) as refused:
        trading.submit_order(
            MarketOrderRequest(
                symbol="SPY",
                qty=100_000,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                client_order_id="sf-t-broke-1",
            )
        )
    assert refused.value.status_code == 403
    assert refused.value.code == 40310000


def test_an_option_order_with_gtc_is_422(trading, options_data):
    with pytest.raises(APIError) as refused:
        trading.submit_order(
            LimitOrderRequest(
                symbol=_liquid_call(options_data),
                qty=1,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.GTC,
                limit_price=1.0,
                client_order_id="sf-t-gtc-1",
            )
        )
    assert refused.value.status_code == 422
    assert refused.value.code == 42210000


def test_lookup_by_client_order_id_and_listing(trading):
    trading.submit_order(
        MarketOrderRequest(
            symbol="MSFT",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id="sf-t-look-1",
        )
    )
    found = trading.get_order_by_client_id("sf-t-look-1")
    assert found.symbol == "MSFT"
    listed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))
    assert "sf-t-look-1" in {o.client_order_id for o in listed}
    with pytest.raises(APIError) as missing:
        trading.get_order_by_client_id("sf-never-sent")
    assert missing.value.status_code == 404


def test_closing_a_position(trading, emulator):
    trading.submit_order(
        MarketOrderRequest(
            symbol="NVDA",
            qty=3,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id="sf-t-close-1",
        )
    )
    emulator.advance(seconds=5)
    poll(trading.get_all_positions, lambda ps: any(p.symbol == "NVDA" for p in ps))
    closing = trading.close_position("NVDA")
    assert closing.side == OrderSide.SELL
    emulator.advance(seconds=5)
    poll(trading.get_all_positions, lambda ps: all(p.symbol != "NVDA" for p in ps))


def _liquid_call(options_data) -> str:
    chain = options_data.get_option_chain(
        OptionChainRequest(
            underlying_symbol="SPY",
            expiration_date_gte=START.date() + timedelta(days=7),
            expiration_date_lte=START.date() + timedelta(days=14),
        )
    )
    calls = [
        (abs((s.greeks.delta if s.greeks else 0) - 0.5), sym)
        for sym, s in chain.items()
        if sym[-9] == "C" and s.latest_quote.bid_price > 0
    ]
    return min(calls)[1]
