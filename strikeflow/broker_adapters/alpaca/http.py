"""alpaca-py clients built so that no call can hang and none retries behind our back.

alpaca-py sends through a plain ``requests.Session`` (``RESTClient._session``) with no
timeout at all, and sleeps-and-retries 429 and 504 three times, 3 s apart, on every
call, order POSTs included. Both are replaced here, once, at construction:

* the session becomes a ``PooledSession`` (``transport``: requests' interface over a
  urllib3 pool, at half the CPU a call) that puts (connect, read) timeouts on every
  request and never retries on its own; with a proxy configured, a ``TimeoutSession``
  (a ``requests.Session`` that does the same) instead, as requests handles proxies;
* the client's retry budget (``_retry``) is set to 0. Its constructor cannot say so:
  alpaca-py treats ``retry_attempts=0`` as "use the default of 3", and TradingClient
  does not pass the argument through anyway.

Retries then belong to the caller, who repeats the whole idempotent operation (same
client_order_id) under its own policy: Celery's for the dispatcher. The one exception is
a 429, which the rate-limit governor (``rate_limit``), when one is given, sends again
after the venue's reset; it wraps the session, so every client's every call spends the
fleet's shared budget first.

Option market data and the contract listing come from ``raw_data=True`` clients (plain
dicts, parsed by ``parsing``): ``options`` and ``listings``, a second TradingClient
used for ``get_option_contracts`` only. Orders, the account and stock quotes keep
alpaca-py's models.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.request import getproxies

import requests
from alpaca.common.rest import RESTClient
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from requests.adapters import HTTPAdapter

from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Timeouts
from strikeflow.broker_adapters.alpaca.rate_limit import GovernedSession, Governor
from strikeflow.broker_adapters.alpaca.transport import PooledSession


class TimeoutSession(requests.Session):
    """A Session whose every request carries (connect, read) timeouts unless given one:
    the session behind a proxy (the environment's proxy settings, as requests reads them)."""

    def __init__(self, timeouts: Timeouts) -> None:
        super().__init__()
        self.timeouts = timeouts
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

    def govern(self, governor: Governor) -> None:
        """Send every client's requests through ``governor`` (once: a governed session is
        given the new governor, not wrapped twice)."""
        for client in self.all:
            session = client._session
            inner = session.inner if isinstance(session, GovernedSession) else session
            client._session = GovernedSession(inner, governor)


def session_for(timeouts: Timeouts) -> PooledSession | TimeoutSession:
    """A ``PooledSession``; a ``TimeoutSession`` when the environment names a proxy."""
    proxied = any(url for scheme, url in getproxies().items() if scheme != "no")
    return TimeoutSession(timeouts) if proxied else PooledSession(timeouts)


def harden(client: RESTClient, timeouts: Timeouts, governor: Governor | None = None) -> RESTClient:
    """Give ``client`` a timeout-enforcing session and no retries of its own; with a
    ``governor``, a session that asks it before every request."""
    client._session.close()
    session = session_for(timeouts)
    client._session = session if governor is None else GovernedSession(session, governor)
    client._retry = 0
    return client


def build_clients(config: AlpacaConfig, governor: Governor | None = None) -> AlpacaClients:
    """The alpaca-py clients, hardened (and governed, given a governor: one for all four,
    so they share its budgets). Opens no connection until first used."""
    key, secret = config.secrets
    trading, data = config.trading_endpoint, config.data_endpoint
    clients = AlpacaClients(
        trading=TradingClient(key, secret, paper=config.paper, url_override=trading),
        stocks=StockHistoricalDataClient(key, secret, url_override=data),
        options=OptionHistoricalDataClient(key, secret, url_override=data, raw_data=True),
        listings=TradingClient(
            key, secret, paper=config.paper, url_override=trading, raw_data=True
        ),
    )
    for client in clients.all:
        harden(client, config.timeouts, governor)
    return clients
