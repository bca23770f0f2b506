"""The data feeds the adapter asks for, and what it says when the data plan refuses one.

Every stock request carries ``feed`` (IEX unless STRIKEFLOW_ALPACA_STOCK_FEED says sip):
without it Alpaca answers historical bars from SIP, whose latest 15 minutes the free plan
may not query. A 403 from the plan is a final refusal naming the setting to change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed, OptionsFeed
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from pydantic import SecretStr, ValidationError

from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret
from strikeflow.broker_adapters.alpaca.errors import classify, translated
from strikeflow.broker_adapters.alpaca.http import AlpacaClients
from strikeflow.broker_adapters.alpaca.market_data import AlpacaMarketData
from strikeflow.config import Settings
from strikeflow.domain.enums import BarTimeframe
from strikeflow.domain.errors import OrderRejected

AT = datetime(2026, 11, 19, 15, 45, tzinfo=UTC)
SIP_REFUSED = '{"message":"subscription does not permit querying recent SIP data"}'
OPRA_REFUSED = '{"code":40310000,"message":"OPRA agreement is not signed"}'


def api_error(status: int, body: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError(body, requests.HTTPError(response=response))


class RecordingStocks:
    """StockHistoricalDataClient's two calls the adapter makes: records each request."""

    def __init__(self) -> None:
        self.requests: list[object] = []

    def get_stock_bars(self, request: StockBarsRequest) -> SimpleNamespace:
        self.requests.append(request)
        bar = SimpleNamespace(
            symbol="AAPL", timestamp=AT, open=1.0, high=1.0, low=1.0, close=1.0,
            volume=10, vwap=1.0, trade_count=1,
        )  # fmt: skip
        return SimpleNamespace(data={"AAPL": [bar]})

    def get_stock_latest_quote(self, request: StockLatestQuoteRequest) -> dict:
        self.requests.append(request)
        quote = SimpleNamespace(
            symbol="AAPL", bid_price=1.0, ask_price=1.1, bid_size=1, ask_size=1, timestamp=AT
        )
        return {"AAPL": quote}


def market_data(**changes) -> tuple[AlpacaMarketData, RecordingStocks]:
    stocks = RecordingStocks()
    clients = AlpacaClients(trading=None, stocks=stocks, options=None, listings=None)
    config = AlpacaConfig(Secret("key-id"), Secret("secret-key"), **changes)
    return AlpacaMarketData(clients, config), stocks


def ask_everything(adapter: AlpacaMarketData) -> None:
    adapter.stock_bars(["AAPL"], BarTimeframe.MINUTE, AT - timedelta(hours=1), AT)
    adapter.stock_bars(["AAPL"], BarTimeframe.DAY, AT - timedelta(days=10), AT)
    adapter.stock_quote("AAPL")


def test_every_stock_request_asks_for_iex_by_default():
    adapter, stocks = market_data()
    ask_everything(adapter)
    kinds = [type(r) for r in stocks.requests]
    assert kinds == [StockBarsRequest, StockBarsRequest, StockLatestQuoteRequest]
    assert [r.feed for r in stocks.requests] == [DataFeed.IEX] * 3


def test_a_configured_sip_feed_goes_on_every_stock_request():
    adapter, stocks = market_data(stock_feed="sip")
    ask_everything(adapter)
    assert len(stocks.requests) == 3
    assert all(r.feed is DataFeed.SIP for r in stocks.requests)
    # and onto the wire: alpaca-py sends what the request model dumps
    assert all(r.to_request_fields()["feed"] == "sip" for r in stocks.requests)


def test_settings_default_to_the_free_plan_s_feeds(monkeypatch):
    monkeypatch.delenv("STRIKEFLOW_ALPACA_STOCK_FEED", raising=False)
    monkeypatch.delenv("STRIKEFLOW_ALPACA_OPTIONS_FEED", raising=False)
    settings = Settings(_env_file=None)
    assert (settings.alpaca_stock_feed, settings.alpaca_options_feed) == ("iex", "indicative")
    assert (
        OptionsFeed(AlpacaConfig(Secret("k"), Secret("s")).options_feed) is OptionsFeed.INDICATIVE
    )


def test_the_stock_feed_setting_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_ALPACA_STOCK_FEED", "sip")
    assert Settings(_env_file=None).alpaca_stock_feed == "sip"
    monkeypatch.setenv("STRIKEFLOW_ALPACA_STOCK_FEED", "opra")
    with pytest.raises(ValidationError, match="alpaca_stock_feed"):
        Settings(_env_file=None)


def test_the_stock_feed_setting_reaches_the_adapter_s_config(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_ALPACA_STOCK_FEED", "sip")
    settings = Settings(
        _env_file=None, alpaca_api_key=SecretStr("k"), alpaca_secret_key=SecretStr("s")
    )
    assert AlpacaConfig.from_settings(settings).stock_feed == "sip"


def test_recent_sip_refused_by_the_plan_is_final_and_names_the_setting():
    error = classify(api_error(403, SIP_REFUSED), "stock bars")
    assert isinstance(error, OrderRejected)
    assert error.status == 403
    assert "subscription does not permit querying recent SIP data" in error.message
    assert "STRIKEFLOW_ALPACA_STOCK_FEED=iex" in error.message
    assert "subscribe to SIP data" in error.message


def test_opra_refused_by_the_plan_names_the_options_feed_setting():
    for operation in ("option chain snapshots", "option snapshots"):
        error = classify(api_error(403, OPRA_REFUSED), operation)
        assert isinstance(error, OrderRejected)
        assert (error.status, error.code) == (403, 40310000)
        assert "OPRA agreement is not signed" in error.message
        assert "STRIKEFLOW_ALPACA_OPTIONS_FEED=indicative" in error.message
        assert "STRIKEFLOW_ALPACA_STOCK_FEED" not in error.message


def test_any_data_403_about_the_subscription_names_the_setting():
    body = '{"message":"your subscription does not permit this"}'
    assert (
        "STRIKEFLOW_ALPACA_STOCK_FEED=iex" in classify(api_error(403, body), "stock quote").message
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, '{"code":40310000,"message":"insufficient buying power"}'),
        (403, '{"message":"forbidden."}'),
        (422, '{"code":42210000,"message":"invalid subscription parameter"}'),
    ],
)
def test_other_refusals_carry_no_feed_advice(status, body):
    error = classify(api_error(status, body), "stock bars")
    assert isinstance(error, OrderRejected)
    assert "STRIKEFLOW_ALPACA" not in error.message


def test_the_refusal_leaves_the_adapter_once_and_as_a_refusal():
    class RefusingStocks(RecordingStocks):
        def get_stock_bars(self, request):
            self.requests.append(request)
            raise api_error(403, SIP_REFUSED)

    adapter, _ = market_data(stock_feed="sip")
    refusing = RefusingStocks()
    adapter._clients = AlpacaClients(None, refusing, None, None)
    with pytest.raises(OrderRejected, match="STRIKEFLOW_ALPACA_STOCK_FEED=iex") as refused:
        adapter.stock_bars(["AAPL"], BarTimeframe.MINUTE, AT - timedelta(hours=1), AT)
    assert not refused.value.transient
    assert len(refusing.requests) == 1
    with pytest.raises(OrderRejected), translated("stock bars"):
        raise api_error(403, SIP_REFUSED)
