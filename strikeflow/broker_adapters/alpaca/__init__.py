"""Alpaca through alpaca-py: config, hardened clients, error classification, parsing maps,
and the adapter that serves the MarketData and Broker ports."""
