"""An emulator on Alpaca's free data plan (``--plan basic``), over HTTP through alpaca-py:
the adapter built from the settings scans on IEX by default; told to ask for SIP, it is
refused for good with the setting to change; OPRA is refused on the free plan too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed, OptionsFeed
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import OptionChainRequest, StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame
from pydantic import SecretStr

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig
from strikeflow.config import Settings
from strikeflow.domain.enums import BarTimeframe, Right
from strikeflow.domain.errors import OrderRejected
from strikeflow.domain.market import ExpiryWindow
from strikeflow.services.scan_bars import session_open
from strikeflow.sim.data_plan import OPRA_REFUSED, SIP_REFUSED
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START

WATCHLIST = ("AAPL", "MSFT", "SPY")
WINDOW = ExpiryWindow(START.date() + timedelta(days=7), START.date() + timedelta(days=14))


@pytest.fixture
def basic_url() -> Iterator[str]:
    options = EmulatorOptions(start=START, api_key=KEY, secret_key=SECRET, plan="basic")
    with running_emulator(options) as url:
        yield url


@pytest.fixture
def unlimited_url() -> Iterator[str]:
    with running_emulator(EmulatorOptions(start=START, api_key=KEY, secret_key=SECRET)) as url:
        yield url


def adapter_from_settings(url: str, monkeypatch, **env: str) -> AlpacaAdapter:
    """The adapter as a worker builds it: from the environment's settings."""
    for name in ("STRIKEFLOW_ALPACA_STOCK_FEED", "STRIKEFLOW_ALPACA_OPTIONS_FEED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(
        _env_file=None,
        alpaca_api_key=SecretStr(KEY),
        alpaca_secret_key=SecretStr(SECRET),
        alpaca_base_url=url,
    )
    return AlpacaAdapter(AlpacaConfig.from_settings(settings))


def scan_bars(adapter: AlpacaAdapter):
    """What a scan asks: the session's minute bars up to the current minute."""
    return adapter.stock_bars(WATCHLIST, BarTimeframe.MINUTE, session_open(START), START)


def test_the_default_settings_scan_on_a_basic_plan(basic_url, monkeypatch):
    adapter = adapter_from_settings(basic_url, monkeypatch)
    try:
        bars = scan_bars(adapter)
        assert all(bars[s] and bars[s][-1].time == START - timedelta(minutes=1) for s in WATCHLIST)
        assert adapter.stock_quote("AAPL").bid > 0
        assert adapter.option_chain("SPY", WINDOW, right=Right.CALL)  # indicative
    finally:
        adapter.close()


def test_sip_on_a_basic_plan_is_refused_once_naming_the_setting(basic_url, monkeypatch):
    adapter = adapter_from_settings(basic_url, monkeypatch, STRIKEFLOW_ALPACA_STOCK_FEED="sip")
    try:
        with pytest.raises(OrderRejected) as refused:
            scan_bars(adapter)
        assert refused.value.status == 403
        assert not refused.value.transient
        assert SIP_REFUSED in refused.value.message
        assert "STRIKEFLOW_ALPACA_STOCK_FEED=iex" in refused.value.message
        with pytest.raises(OrderRejected, match="STRIKEFLOW_ALPACA_STOCK_FEED=iex"):
            adapter.stock_quote("AAPL")
    finally:
        adapter.close()


def test_opra_on_a_basic_plan_is_refused_naming_the_setting(basic_url, monkeypatch):
    adapter = adapter_from_settings(basic_url, monkeypatch, STRIKEFLOW_ALPACA_OPTIONS_FEED="opra")
    try:
        with pytest.raises(OrderRejected) as refused:
            adapter.option_chain("SPY", WINDOW, right=Right.CALL)
        assert refused.value.status == 403
        assert OPRA_REFUSED in refused.value.message
        assert "STRIKEFLOW_ALPACA_OPTIONS_FEED=indicative" in refused.value.message
        assert scan_bars(adapter)["SPY"]  # stocks still on IEX
    finally:
        adapter.close()


def test_the_basic_plan_follows_alpaca_s_feed_rules(basic_url):
    stocks = StockHistoricalDataClient(KEY, SECRET, url_override=basic_url)
    recent = {"symbol_or_symbols": ["AAPL"], "timeframe": TimeFrame.Minute, "end": START}
    for feed in (None, DataFeed.SIP):  # SIP is the default for history
        with pytest.raises(APIError) as refused:
            stocks.get_stock_bars(
                StockBarsRequest(start=START - timedelta(hours=1), feed=feed, **recent)
            )
        assert refused.value.status_code == 403
        assert SIP_REFUSED in str(refused.value)
    older = START - timedelta(minutes=16)  # SIP older than 15 minutes is the free plan's
    old = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["AAPL"],
            timeframe=TimeFrame.Minute,
            start=older - timedelta(hours=1),
            end=older,
            feed=DataFeed.SIP,
        )
    )
    assert old.data["AAPL"]
    assert old.data["AAPL"][-1].timestamp < older
    latest = stocks.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["AAPL"]))
    assert "AAPL" in latest  # no feed on latest data: the plan's own (IEX)
    options = OptionHistoricalDataClient(KEY, SECRET, url_override=basic_url)
    with pytest.raises(APIError) as opra:
        options.get_option_chain(OptionChainRequest(underlying_symbol="SPY", feed=OptionsFeed.OPRA))
    assert opra.value.status_code == 403
    assert OPRA_REFUSED in str(opra.value)


def test_the_unlimited_plan_serves_sip_and_opra(unlimited_url, monkeypatch):
    adapter = adapter_from_settings(
        unlimited_url,
        monkeypatch,
        STRIKEFLOW_ALPACA_STOCK_FEED="sip",
        STRIKEFLOW_ALPACA_OPTIONS_FEED="opra",
    )
    try:
        assert scan_bars(adapter)["AAPL"]
        assert adapter.option_chain("SPY", WINDOW, right=Right.CALL)
    finally:
        adapter.close()
