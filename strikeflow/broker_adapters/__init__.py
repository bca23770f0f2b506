"""Adapters behind the ports of ``services.ports``: Alpaca through alpaca-py, and an
in-process simulated broker. They translate the outside world into domain types and
its failures into domain errors."""
