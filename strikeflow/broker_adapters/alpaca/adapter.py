"""AlpacaAdapter: the MarketData and Broker ports over one set of hardened alpaca-py clients.

Build one per worker process (after fork), never at import: ``AlpacaAdapter(config)``
or ``build_alpaca_adapter(settings)``. See ``broker`` for the idempotent submit and
why retries are the caller's (the dispatcher's policy lives in its Celery task).
"""

from __future__ import annotations

from typing import Any

from strikeflow.broker_adapters.alpaca.broker import AlpacaBroker
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig
from strikeflow.broker_adapters.alpaca.http import build_clients
from strikeflow.broker_adapters.alpaca.market_data import AlpacaMarketData


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
