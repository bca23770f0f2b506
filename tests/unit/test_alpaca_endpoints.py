"""Where the adapter sends trading and market data calls: Alpaca serves them from
different hosts, the emulator from one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret
from strikeflow.broker_adapters.alpaca.http import build_clients
from strikeflow.config import Settings

KEYS = {"STRIKEFLOW_ALPACA_API_KEY": "key-id", "STRIKEFLOW_ALPACA_SECRET_KEY": "secret"}
PAPER, LIVE, DATA = (
    "https://paper-api.alpaca.markets",
    "https://api.alpaca.markets",
    "https://data.alpaca.markets",
)


def endpoints(monkeypatch, **env: str) -> tuple[str, str, str, str]:
    """(trading, listings, stocks, options) base URLs of the clients built from env."""
    for name in ("BASE_URL", "TRADING_URL", "DATA_URL", "PAPER"):
        monkeypatch.delenv(f"STRIKEFLOW_ALPACA_{name}", raising=False)
    for name, value in {**KEYS, **env}.items():
        monkeypatch.setenv(name, value)
    clients = build_clients(AlpacaConfig.from_settings(Settings()))
    urls = (clients.trading, clients.listings, clients.stocks, clients.options)
    return tuple(str(getattr(c._base_url, "value", c._base_url)) for c in urls)


def test_alpaca_itself_trading_on_the_paper_or_live_host_and_data_on_the_data_host(monkeypatch):
    assert endpoints(monkeypatch) == (PAPER, PAPER, DATA, DATA)
    assert endpoints(monkeypatch, STRIKEFLOW_ALPACA_PAPER="false") == (LIVE, LIVE, DATA, DATA)


def test_the_base_url_sends_both_to_the_emulator(monkeypatch):
    emulator = "http://127.0.0.1:8765"
    assert endpoints(monkeypatch, STRIKEFLOW_ALPACA_BASE_URL=emulator + "/") == (emulator,) * 4


def test_the_two_urls_each_take_their_own_calls_before_the_base_url(monkeypatch):
    urls = endpoints(
        monkeypatch,
        STRIKEFLOW_ALPACA_BASE_URL="http://127.0.0.1:8765",
        STRIKEFLOW_ALPACA_TRADING_URL=PAPER,
        STRIKEFLOW_ALPACA_DATA_URL="http://127.0.0.1:9000/",
    )
    assert urls == (PAPER, PAPER, "http://127.0.0.1:9000", "http://127.0.0.1:9000")
    only_trading = endpoints(monkeypatch, STRIKEFLOW_ALPACA_TRADING_URL=PAPER)
    assert only_trading == (PAPER, PAPER, DATA, DATA)


@pytest.mark.parametrize("name", ["STRIKEFLOW_ALPACA_BASE_URL", "STRIKEFLOW_ALPACA_DATA_URL"])
@pytest.mark.parametrize("host", [PAPER, LIVE, PAPER + "/v2"])
def test_a_trading_host_for_market_data_is_refused_saying_why(monkeypatch, name, host):
    monkeypatch.setenv(name, host)
    with pytest.raises(ValidationError) as refused:
        Settings()
    text = str(refused.value)
    assert "trading host" in text
    assert "STRIKEFLOW_ALPACA_TRADING_URL" in text


def test_a_config_built_by_hand_keeps_the_same_precedence():
    config = AlpacaConfig(Secret("k"), Secret("s"), base_url="http://emu/", data_url="http://data/")
    assert (config.trading_endpoint, config.data_endpoint) == ("http://emu", "http://data")
    bare = AlpacaConfig(Secret("k"), Secret("s"))
    assert (bare.trading_endpoint, bare.data_endpoint) == (None, None)
