"""The Alpaca adapter's pure parts: parsing maps, failure classification, config, clients.

Alpaca payloads are the JSON Alpaca sends (tests/data/alpaca_shapes), run through alpaca-py's own
models, then through our maps; option snapshots and contracts go through our maps as the
raw JSON the ``raw_data`` clients hand over.
"""

from __future__ import annotations

import pickle
from datetime import date
from decimal import Decimal

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderStatus
from alpaca.trading.models import Order, Position, TradeAccount
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret, Timeouts
from strikeflow.broker_adapters.alpaca.errors import (
    classify,
    is_duplicate,
    read_api_error,
    translated,
)
from strikeflow.broker_adapters.alpaca.http import TimeoutSession, build_clients
from strikeflow.broker_adapters.alpaca.listings import ListingCache
from strikeflow.broker_adapters.alpaca.transport import PooledSession
from strikeflow.config import Settings
from strikeflow.domain.enums import Action, ExecutionMode, ExecutionStatus, OrderType
from strikeflow.domain.errors import BrokerUnavailable, InvalidOccSymbol, OrderRejected
from strikeflow.domain.orders import OrderIntent

KEY, SECRET = "PKTESTKEY0123456789", "s3cr3t-VALUE-abcdefghijklmnop"
CALL = "AAPL261218C00190000"
D = Decimal


def order_json(**changes) -> dict:
    body = {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "client_order_id": "sf-open-abc",
        "created_at": "2026-11-19T15:45:00Z",
        "updated_at": "2026-11-19T15:45:01Z",
        "submitted_at": "2026-11-19T15:45:00Z",
        "filled_at": "2026-11-19T15:45:01Z",
        "asset_class": "us_option",
        "symbol": CALL,
        "qty": "2",
        "filled_qty": "2",
        "filled_avg_price": "2.15",
        "order_type": "limit",
        "type": "limit",
        "side": "buy",
        "time_in_force": "day",
        "limit_price": "2.2",
        "status": "filled",
        "extended_hours": False,
        "legs": None,
        "position_intent": "buy_to_open",
    }
    return {**body, **changes}


def api_error(status: int, body: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError(body, requests.HTTPError(response=response))


# -- maps -------------------------------------------------------------------------------


def test_every_alpaca_order_status_has_a_meaning():
    assert set(parsing.ORDER_STATUS) == set(OrderStatus)


def test_an_order_maps_to_the_domain():
    order = parsing.broker_order(Order(**order_json()), ExecutionMode.PAPER)
    assert order.id == "61e69015-8549-4bfd-b9c3-01e75843f47d"
    assert (order.side, order.order_type, order.status) == (
        Action.BUY,
        OrderType.LIMIT,
        ExecutionStatus.FILLED,
    )
    assert (order.qty, order.filled_qty, order.filled_avg_price) == (D(2), D(2), D("2.15"))
    assert order.limit_price == D("2.2")
    assert order.position_intent == "buy_to_open"
    assert order.broker_status == "filled"
    accepted = parsing.broker_order(
        Order(**order_json(status="accepted", filled_qty="0", filled_avg_price=None)),
        ExecutionMode.LIVE,
    )
    assert accepted.status is ExecutionStatus.ACCEPTED
    assert accepted.filled_avg_price is None
    assert accepted.execution_mode is ExecutionMode.LIVE
    assert accepted.is_open


def test_intents_map_to_alpaca_requests():
    limit = parsing.order_request(
        OrderIntent("sf-1", CALL, Action.BUY, D(2), OrderType.LIMIT, D("2.15"))
    )
    assert isinstance(limit, LimitOrderRequest)
    fields = limit.to_request_fields()
    assert fields == {
        "symbol": CALL,
        "qty": 2.0,
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "client_order_id": "sf-1",
        "position_intent": "buy_to_open",
        "limit_price": 2.15,
    }
    market = parsing.order_request(OrderIntent("sf-2", "AAPL", Action.SELL, D(5)))
    assert isinstance(market, MarketOrderRequest)
    assert "position_intent" not in market.to_request_fields()


def test_account_and_positions_money_is_decimal():
    account = parsing.account_snapshot(
        TradeAccount(
            id="5f84c5d6-3f4e-545a-b205-9e336de09093",
            account_number="PA0001",
            status="ACTIVE",
            cash="1000.10",
            buying_power="2000.2",
            options_buying_power="1000.1",
            equity="1500",
            options_approved_level=2,
            options_trading_level=None,
        )
    )
    assert (account.cash, account.buying_power, account.options_level) == (
        D("1000.10"),
        D("2000.2"),
        2,
    )
    short = parsing.position_snapshot(
        Position(
            asset_id="5f84c5d6-3f4e-545a-b205-9e336de09093",
            symbol="AAPL",
            exchange="NASDAQ",
            asset_class="us_equity",
            avg_entry_price="190.5",
            qty="3",
            side="short",
            cost_basis="571.5",
        )
    )
    assert short.qty == D(-3)
    assert short.avg_entry_price == D("190.5")


def snapshot(greeks: bool = True, quote: bool = True, daily_bar: bool = False) -> dict:
    raw: dict = {"latestTrade": {"t": "2026-11-19T15:44:00Z", "p": 2.12, "s": 1}}
    if quote:
        raw["latestQuote"] = {
            "t": "2026-11-19T15:45:00.123456789Z",
            "bp": 2.1,
            "bs": 5,
            "ap": 2.2,
            "as": 7,
        }
    if greeks:
        raw["greeks"] = {"delta": 0.5, "gamma": 0.04, "theta": -0.1, "vega": 0.2, "rho": 0.05}
        raw["impliedVolatility"] = 0.31
    if daily_bar:
        raw["dailyBar"] = {"t": "2026-11-19T05:00:00Z", "o": 2, "h": 2.3, "l": 1.9, "c": 2.12}
        raw["dailyBar"] |= {"v": 4321, "n": 120, "vw": 2.1}
    return raw


def contract_meta(**changes) -> dict:
    body = {
        "id": "0f3b6c8e-6d2a-4a7e-9e25-1d0f8a1f4c11",
        "symbol": CALL,
        "name": "AAPL Dec 18 2026 190 Call",
        "status": "active",
        "tradable": True,
        "expiration_date": "2026-12-18",
        "root_symbol": "AAPL",
        "underlying_symbol": "AAPL",
        "underlying_asset_id": "5f84c5d6-3f4e-545a-b205-9e336de09093",
        "type": "call",
        "style": "american",
        "strike_price": "190",
        "size": "100",
        "open_interest": "1234",
    }
    return {**body, **changes}


def test_contract_and_snapshot_merge_into_an_option_contract():
    quote = parsing.option_quote(CALL, snapshot())
    assert (quote.bid, quote.ask, quote.last) == (D("2.1"), D("2.2"), D("2.12"))
    assert quote.time.isoformat() == "2026-11-19T15:45:00.123456+00:00"  # ns cut to us
    contract = parsing.option_contract(parsing.listed_contract(contract_meta()), quote)
    assert contract.open_interest == 1234
    assert contract.multiplier == 100
    assert contract.strike == D(190)
    assert contract.right == "C"
    assert contract.greeks.delta == 0.5
    assert contract.implied_vol == 0.31
    assert contract.volume == 0  # no dailyBar: volume unknown
    bare = parsing.option_quote(CALL, snapshot(greeks=False))
    assert bare.greeks is None
    assert bare.implied_vol is None
    assert parsing.option_quote(CALL, snapshot(quote=False)) is None
    no_oi = parsing.option_contract(
        parsing.listed_contract(contract_meta(open_interest=None)), quote
    )
    assert no_oi.open_interest == 0


def test_the_multiplier_is_the_contracts_own_not_its_size():
    """An adjusted contract: Alpaca's ``size`` stays 100, ``multiplier`` says 10."""
    quote = parsing.option_quote(CALL, snapshot())
    adjusted = parsing.listed_contract(contract_meta(multiplier="10", size="100"))
    assert parsing.option_contract(adjusted, quote).multiplier == 10
    standard = parsing.listed_contract(contract_meta(multiplier="100"))
    assert parsing.option_contract(standard, quote).multiplier == 100
    unsaid = parsing.listed_contract({k: v for k, v in contract_meta().items() if k != "size"})
    assert unsaid.multiplier == 100  # no multiplier sent: a standard listing


def test_the_daily_bar_carries_option_volume_to_the_contract():
    quote = parsing.option_quote(CALL, snapshot(daily_bar=True))
    assert quote.volume == 4321
    contract = parsing.option_contract(parsing.listed_contract(contract_meta()), quote)
    assert contract.volume == 4321


def test_a_malformed_contract_symbol_is_refused_by_name():
    with pytest.raises(InvalidOccSymbol):
        parsing.listed_contract(contract_meta(symbol="AAPL 2612X"))


@pytest.mark.parametrize(
    "broken",
    [
        {"latestQuote": {"t": "2026-11-19T15:45:00Z", "bp": 2.1}},  # no ask
        {"latestQuote": {"t": "2026-11-19T15:45:00Z", "bp": "x", "bs": 1, "ap": 2, "as": 1}},
        {"latestQuote": {"t": "not a time", "bp": 2.1, "bs": 1, "ap": 2.2, "as": 1}},
        {
            "latestQuote": {"t": "2026-11-19T15:45:00Z", "bp": 2, "bs": 1, "ap": 2, "as": 1},
            "greeks": {"delta": 0.5},
        },
    ],
)
def test_a_malformed_raw_snapshot_is_a_malformed_reply(broken):
    with pytest.raises(BrokerUnavailable, match="malformed reply"), translated("chain"):
        parsing.option_quote(CALL, broken)


def test_a_malformed_raw_contract_is_a_malformed_reply():
    with pytest.raises(BrokerUnavailable, match="malformed reply"), translated("contracts"):
        parsing.listed_contract(
            {k: v for k, v in contract_meta().items() if k != "underlying_symbol"}
        )


# -- failure classification ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (500, '{"code":50010000,"message":"internal"}', BrokerUnavailable, None),
        (503, "<html>Service Unavailable</html>", BrokerUnavailable, None),
        (504, "", BrokerUnavailable, None),
        (429, '{"code":42910000,"message":"rate limit exceeded"}', BrokerUnavailable, None),
        (403, '{"code":40310000,"message":"insufficient buying power"}', OrderRejected, 40310000),
        (422, '{"code":42210000,"message":"options orders must be day"}', OrderRejected, 42210000),
        (404, '{"code":40410000,"message":"order not found"}', OrderRejected, 40410000),
        (422, '{"message":"no code here"}', OrderRejected, None),
        (400, "<html>Bad Request</html>", OrderRejected, None),
        (422, '{"code":"oops","message":"odd code"}', OrderRejected, None),
        (422, "[1, 2]", OrderRejected, None),
    ],
)
def test_api_errors_are_classified_without_trusting_the_body(status, body, kind, code):
    error = classify(api_error(status, body), "submit")
    assert type(error) is kind
    if kind is OrderRejected:
        assert (error.status, error.code) == (status, code)
    else:
        assert error.status == status


def test_a_duplicate_client_order_id_is_recognised():
    duplicate = api_error(422, '{"code":40010001,"message":"client_order_id must be unique"}')
    assert is_duplicate(classify(duplicate, "submit"))
    assert not is_duplicate(classify(api_error(422, '{"code":42210000,"message":"x"}'), "submit"))
    assert not is_duplicate(classify(api_error(503, '{"code":40010001}'), "submit"))
    failure = read_api_error(duplicate)
    assert not failure.transient
    assert failure.message == "client_order_id must be unique"
    assert read_api_error(APIError("no http error")).status is None


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (requests.ReadTimeout("read timed out"), "read timeout"),
        (requests.ConnectTimeout("connect timed out"), "connect timeout"),
        (requests.ConnectionError("refused"), "ConnectionError"),
        (requests.exceptions.ChunkedEncodingError("cut"), "ChunkedEncodingError"),
        (ValueError("Expecting value"), "malformed reply"),
    ],
)
def test_transport_failures_are_transient(error, detail):
    classified = classify(error, "account")
    assert isinstance(classified, BrokerUnavailable)
    assert detail in classified.detail


def test_translation_scrubs_secrets_and_keeps_domain_errors():
    with pytest.raises(OrderRejected) as refused, translated("account", [KEY, SECRET]):
        raise api_error(401, f'{{"code":40110000,"message":"bad key {KEY}"}}')
    assert KEY not in str(refused.value)
    assert "[redacted]" in str(refused.value)
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__
    with pytest.raises(InvalidOccSymbol), translated("chain"):
        raise InvalidOccSymbol("bad symbol")
    with pytest.raises(TypeError):
        classify(KeyError("x"), "account")


# -- config and clients -----------------------------------------------------------------


def settings(**changes) -> Settings:
    return Settings(alpaca_api_key=KEY, alpaca_secret_key=SECRET, **changes)


def test_config_from_settings_never_shows_the_keys():
    config = AlpacaConfig.from_settings(
        settings(
            alpaca_base_url="http://127.0.0.1:9/",
            alpaca_read_timeout_s=2.5,
        )
    )
    assert config.api_key.reveal() == KEY
    assert config.secret_key.reveal() == SECRET
    assert config.base_url == "http://127.0.0.1:9"
    assert config.timeouts.read_s == 2.5
    assert config.paper
    for text in (repr(config), str(config), f"{config.api_key}", repr(settings())):
        assert KEY not in text
        assert SECRET not in text
    with pytest.raises(TypeError):
        pickle.dumps(Secret(SECRET))


def test_config_needs_both_keys():
    with pytest.raises(ValueError, match="SECRET_KEY"):
        AlpacaConfig.from_settings(Settings(alpaca_api_key=KEY))


def test_settings_defaults_and_env(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_ALPACA_API_KEY", KEY)
    monkeypatch.setenv("STRIKEFLOW_ALPACA_PAPER", "false")
    monkeypatch.setenv("STRIKEFLOW_ON_BROKER_FAILURE", "reject")
    loaded = Settings()
    assert loaded.alpaca_api_key.get_secret_value() == KEY
    assert not loaded.alpaca_paper
    assert loaded.on_broker_failure == "reject"
    assert Settings.model_fields["on_broker_failure"].default == "simulate"
    assert Settings.model_fields["alpaca_paper"].default is True


@pytest.fixture
def no_proxy(monkeypatch):
    for scheme in ("http", "https", "all"):
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            monkeypatch.delenv(name, raising=False)


def test_clients_time_out_and_never_retry_on_their_own(no_proxy):
    config = AlpacaConfig(Secret(KEY), Secret(SECRET), timeouts=Timeouts(1.5, 4.0))
    clients = build_clients(config)
    raw = {name: getattr(clients, name)._use_raw_data for name in clients.__dataclass_fields__}
    assert raw == {"trading": False, "stocks": False, "options": True, "listings": True}
    for client in clients.all:
        assert isinstance(client._session, PooledSession)
        assert client._session.timeouts.as_requests() == (1.5, 4.0)
        assert client._retry == 0  # the session's own: test_alpaca_transport
    clients.close()


def test_behind_a_proxy_the_clients_keep_a_requests_session(no_proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    config = AlpacaConfig(Secret(KEY), Secret(SECRET), timeouts=Timeouts(1.5, 4.0))
    clients = build_clients(config)
    for client in clients.all:
        assert isinstance(client._session, TimeoutSession)
        assert client._session.trust_env  # requests reads the proxy from the environment
        assert client._session.timeouts.as_requests() == (1.5, 4.0)
        for adapter in client._session.adapters.values():
            assert adapter.max_retries.total == 0
    clients.close()


def test_the_listing_cache_reuses_until_the_ttl_and_keeps_the_newest():
    now = [0.0]
    cache = ListingCache(ttl_s=60, max_entries=2, clock=lambda: now[0])
    fetched = []

    def fetch(name):
        def run():
            fetched.append(name)
            return [parsing.listed_contract(contract_meta())]

        return run

    key = ("AAPL", date(2026, 12, 18), date(2026, 12, 18), None)
    assert cache.get(key, fetch("a")) == cache.get(key, fetch("b"))
    assert fetched == ["a"]
    now[0] = 61.0
    cache.get(key, fetch("c"))
    assert fetched == ["a", "c"]  # past the ttl: listed again
    other = [("MSFT", *key[1:]), ("SPY", *key[1:])]
    for k in other:
        cache.get(k, fetch(k[0]))
    cache.get(key, fetch("d"))
    assert fetched[-1] == "d"  # evicted by the two newer keys


def test_a_failed_listing_is_not_cached():
    cache = ListingCache(ttl_s=60)
    key = ("AAPL", date(2026, 12, 18), date(2026, 12, 18), None)

    def down():
        raise BrokerUnavailable("option contracts", "down")

    with pytest.raises(BrokerUnavailable):
        cache.get(key, down)
    assert cache.get(key, list) == ()
