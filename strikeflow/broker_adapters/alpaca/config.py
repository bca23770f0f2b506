"""The Alpaca adapter's own frozen configuration, whose repr never shows a secret.

Built from ``strikeflow.config.Settings`` by ``AlpacaConfig.from_settings`` (read by
attribute, so this layer need not import the config layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strikeflow.domain.errors import MissingCredentials

MASK = "**********"


class Secret:
    """A string that shows as ``**********`` in repr, str, format and logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("a secret must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):  # never pickled into a Celery message or a log
        raise TypeError("secrets are not picklable")


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect and to wait for each read; passed to every HTTP request."""

    connect_s: float = 3.05
    read_s: float = 10.0

    def __post_init__(self) -> None:
        if not (0 < self.connect_s <= 60 and 0 < self.read_s <= 120):
            raise ValueError(f"timeouts out of range: {self}")

    def as_requests(self) -> tuple[float, float]:
        return (self.connect_s, self.read_s)


@dataclass(frozen=True)
class AlpacaConfig:
    api_key: Secret
    secret_key: Secret
    paper: bool = True
    base_url: str | None = None  # one override for trading and data (the emulator)
    trading_url: str | None = None  # the trading API's; None: base_url, else alpaca-py's
    data_url: str | None = None  # the market data API's; None: base_url, else alpaca-py's
    timeouts: Timeouts = field(default_factory=Timeouts)
    options_feed: str = "indicative"
    stock_feed: str = "iex"  # sent as feed= on every stock data request
    contracts_page_size: int = 10_000  # the most /v2/options/contracts allows: fewest pages
    listing_ttl_s: float = 3600.0  # a chain's contract listing is reused this long (0: never)

    def __post_init__(self) -> None:
        for name in ("base_url", "trading_url", "data_url"):
            url = getattr(self, name)
            if url is not None:
                object.__setattr__(self, name, url.rstrip("/"))
        if not 1 <= self.contracts_page_size <= 10_000:
            raise ValueError("contracts_page_size must be within [1, 10000]")
        if not 0 <= self.listing_ttl_s <= 86_400:
            raise ValueError("listing_ttl_s must be within [0, 86400]")

    @property
    def trading_endpoint(self) -> str | None:
        """Where trading calls go; None leaves alpaca-py's paper or live host."""
        return self.trading_url or self.base_url

    @property
    def data_endpoint(self) -> str | None:
        """Where market data calls go; None leaves alpaca-py's data host."""
        return self.data_url or self.base_url

    @property
    def live(self) -> bool:
        return not self.paper

    @property
    def secrets(self) -> tuple[str, str]:
        """The keys revealed, for scrubbing them out of error messages."""
        return (self.api_key.reveal(), self.secret_key.reveal())

    @classmethod
    def from_settings(cls, settings: Any) -> AlpacaConfig:
        """From ``strikeflow.config.Settings``. Without both keys (unset or empty):
        MissingCredentials naming the settings to set, a type a command can explain."""
        key, secret = settings.alpaca_api_key, settings.alpaca_secret_key
        named = (("STRIKEFLOW_ALPACA_API_KEY", key), ("STRIKEFLOW_ALPACA_SECRET_KEY", secret))
        unset = tuple(n for n, value in named if value is None or not value.get_secret_value())
        if unset:
            raise MissingCredentials("Alpaca", unset)
        return cls(
            api_key=Secret(key.get_secret_value()),
            secret_key=Secret(secret.get_secret_value()),
            paper=settings.alpaca_paper,
            base_url=settings.alpaca_base_url,
            trading_url=settings.alpaca_trading_url,
            data_url=settings.alpaca_data_url,
            timeouts=Timeouts(settings.alpaca_connect_timeout_s, settings.alpaca_read_timeout_s),
            options_feed=settings.alpaca_options_feed,
            stock_feed=settings.alpaca_stock_feed,
        )
