"""AlpacaAdapter: the MarketData and Broker ports over one set of hardened alpaca-py clients.

Build one per worker process (after fork), never at import: ``AlpacaAdapter(config)``
or ``build_alpaca_adapter(settings)``. See ``broker`` for the idempotent submit and
why retries are the caller's; ``submit_with_retries`` is a bounded version of that
retry for scripts and tests (the dispatcher's own policy lives in its Celery task).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strikeflow.broker_adapters.alpaca.broker import AlpacaBroker
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig
from strikeflow.broker_adapters.alpaca.http import build_clients
from strikeflow.broker_adapters.alpaca.market_data import AlpacaMarketData
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.services.ports import Broker


class AlpacaAdapter(AlpacaBroker, AlpacaMarketData):
    def __init__(self, config: AlpacaConfig) -> None:
        clients = build_clients(config)
        AlpacaBroker.__init__(self, clients, config)
        AlpacaMarketData.__init__(self, clients, config)

    @property
    def config(self) -> AlpacaConfig:
        return self._config

    def close(self) -> None:
        self._clients.close()

    def __repr__(self) -> str:  # the config's own repr masks the keys too
        venue = self._config.base_url or ("paper" if self._config.paper else "LIVE")
        return f"AlpacaAdapter(venue={venue!r}, mode={self.execution_mode.value})"


def build_alpaca_adapter(settings: Any) -> AlpacaAdapter:
    """From ``strikeflow.config.Settings``: the factory the composition root calls."""
    return AlpacaAdapter(AlpacaConfig.from_settings(settings))


def submit_with_retries(
    broker: Broker,
    intent: OrderIntent,
    attempts: int = 5,
    backoff_s: float = 0.5,
    max_backoff_s: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> BrokerOrder:
    """``broker.submit`` until it answers, at most ``attempts`` times, on BrokerUnavailable
    only (a rejection is final). Every attempt sends the same intent, so the same
    client_order_id: however many attempts reach the venue, one order stands."""
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        try:
            return broker.submit(intent)
        except BrokerUnavailable:
            if attempt == attempts - 1:
                raise
            sleep(min(backoff_s * 2**attempt, max_backoff_s))
    raise AssertionError("unreachable")
