"""alpaca-py clients built so that no call can hang and none retries behind our back.

alpaca-py sends through a plain ``requests.Session`` (``RESTClient._session``) with no
timeout at all, and sleeps-and-retries 429 and 504 three times, 3 s apart, on every
call, order POSTs included. Both are replaced here, once, at construction:

* the session becomes a ``TimeoutSession`` that puts (connect, read) timeouts on every
  request and mounts adapters that never retry on their own;
* the client's retry budget (``_retry``) is set to 0. Its constructor cannot say so:
  alpaca-py treats ``retry_attempts=0`` as "use the default of 3", and TradingClient
  does not pass the argument through anyway.

Retries then belong to the caller, who repeats the whole idempotent operation (same
client_order_id) under its own policy: Celery's, or ``submit_with_retries``.

Option market data and the contract listing come from ``raw_data=True`` clients (plain
dicts, parsed by ``parsing``): ``options`` and ``listings``, a second TradingClient
used for ``get_option_contracts`` only. Orders, the account and stock quotes keep
alpaca-py's models.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.request import getproxies

import requests
from alpaca.common.rest import RESTClient
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from requests.adapters import HTTPAdapter

from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Timeouts


class TimeoutSession(requests.Session):
    """A Session whose every request carries (connect, read) timeouts unless given one."""

    def __init__(self, timeouts: Timeouts) -> None:
        super().__init__()
        self.timeouts = timeouts
        if not any(getproxies().values()):
            # With no proxy configured, trusting the environment only makes requests
            # scan it (and ~/.netrc) again on every call: half a millisecond each.
            # A CA bundle named there is still honoured; auth is Alpaca's headers.
            self.trust_env = False
            self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get(
                "CURL_CA_BUNDLE", True
            )
        no_retries = HTTPAdapter(max_retries=0)
        self.mount("http://", no_retries)
        self.mount("https://", no_retries)

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeouts.as_requests()
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class AlpacaClients:
    trading: TradingClient
    stocks: StockHistoricalDataClient
    options: OptionHistoricalDataClient  # raw_data: dicts
    listings: TradingClient  # raw_data: dicts, for the contracts endpoint

    @property
    def all(self) -> tuple[RESTClient, ...]:
        return (self.trading, self.stocks, self.options, self.listings)

    def close(self) -> None:
        for client in self.all:
            client._session.close()


def harden(client: RESTClient, timeouts: Timeouts) -> RESTClient:
    """Give ``client`` a timeout-enforcing session and no retries of its own."""
    client._session.close()
    client._session = TimeoutSession(timeouts)
    client._retry = 0
    return client


def build_clients(config: AlpacaConfig) -> AlpacaClients:
    """The alpaca-py clients, hardened. Opens no connection until first used."""
    key, secret = config.secrets
    url = config.base_url
    clients = AlpacaClients(
        trading=TradingClient(key, secret, paper=config.paper, url_override=url),
        stocks=StockHistoricalDataClient(key, secret, url_override=url),
        options=OptionHistoricalDataClient(key, secret, url_override=url, raw_data=True),
        listings=TradingClient(key, secret, paper=config.paper, url_override=url, raw_data=True),
    )
    for client in clients.all:
        harden(client, config.timeouts)
    return clients
