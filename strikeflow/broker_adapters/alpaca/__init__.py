"""Alpaca through alpaca-py: config, hardened clients, error classification, parsing maps,
and the adapter that serves the MarketData and Broker ports."""

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter, build_alpaca_adapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret, Timeouts

__all__ = [
    "AlpacaAdapter",
    "AlpacaConfig",
    "Secret",
    "Timeouts",
    "build_alpaca_adapter",
]
