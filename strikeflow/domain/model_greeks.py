"""Implied vol and Greeks for quotes that arrived without them.

Venues sometimes send ``greeks: null`` (Alpaca does for some contracts); the selection
and the execution record still need delta, theta and IV, so they are backed out of the
mid price with the same pricing model the rest of the system uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.expiry import years_to_expiry
from strikeflow.domain.pricing import BsGreeks, bs_greeks, implied_vol, to_broker_greeks


@dataclass(frozen=True, slots=True)
class MarketRates:
    """Continuously compounded annual rates assumed when backing Greeks out of prices."""

    risk_free: float = 0.04
    dividend_yield: float = 0.0

    def __post_init__(self) -> None:
        if not (-0.05 < self.risk_free < 0.5 and 0 <= self.dividend_yield < 0.5):
            raise InvalidPolicy(
                f"implausible rates: risk_free {self.risk_free}, dividend {self.dividend_yield}"
            )


def model_greeks(
    chain: OptionChain, spot: float, now: datetime, rates: MarketRates
) -> tuple[np.ndarray, BsGreeks]:
    """Per contract: implied vol (quoted, else from mid) and Greeks in broker units.

    NaN where the mid carries no identifiable volatility (see ``pricing.implied_vol``).
    """
    years = years_to_expiry(chain.expiration, now)
    right = np.where(chain.is_call, "C", "P")
    r, q = rates.risk_free, rates.dividend_yield
    iv = chain.implied_vol.copy()
    need = np.isnan(iv)
    if need.any():
        iv[need] = implied_vol(
            chain.mid[need], spot, chain.strike[need], years[need], r, q, right[need]
        )
    return iv, to_broker_greeks(bs_greeks(spot, chain.strike, years, r, q, iv, right))
