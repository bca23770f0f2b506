"""A columnar view of an option chain, so selection rules run as array operations.

Built once when a chain is fetched; selection on thousands of contracts then costs
a few numpy passes instead of a Python loop per contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np

from strikeflow.domain.enums import Right
from strikeflow.domain.models import OptionContract

STANDARD_MULTIPLIER = 100
EPOCH_DAY = date(1970, 1, 1).toordinal()  # numpy's datetime64[D] counts days from here


@dataclass(frozen=True, eq=False)
class OptionChain:
    """Contracts plus one float/int/bool array per field the rules read.

    Missing implied vol and Greeks are NaN. Greeks are in broker units (theta per day,
    vega per vol point), like ``models.Greeks``. The derived columns (``mid``,
    ``spread_pct``) are computed once per chain: a report reads them per candidate.
    Treat every column as read-only.
    """

    contracts: tuple[OptionContract, ...]
    strike: np.ndarray
    expiration: np.ndarray
    is_call: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    volume: np.ndarray
    open_interest: np.ndarray
    implied_vol: np.ndarray
    delta: np.ndarray
    quote_ts: np.ndarray
    standard: np.ndarray

    @classmethod
    def from_contracts(cls, contracts: Sequence[OptionContract]) -> OptionChain:
        items = tuple(contracts)
        n = len(items)

        def column(values, dtype) -> np.ndarray:
            return np.fromiter(values, dtype=dtype, count=n)

        nan = float("nan")
        return cls(
            contracts=items,
            strike=column((float(c.strike) for c in items), np.float64),
            expiration=(
                column((c.expiration.toordinal() for c in items), np.int64) - EPOCH_DAY
            ).astype("datetime64[D]"),
            is_call=column((c.right is Right.CALL for c in items), np.bool_),
            bid=column((float(c.bid) for c in items), np.float64),
            ask=column((float(c.ask) for c in items), np.float64),
            volume=column((c.volume for c in items), np.int64),
            open_interest=column((c.open_interest for c in items), np.int64),
            implied_vol=column(
                (nan if c.implied_vol is None else c.implied_vol for c in items), np.float64
            ),
            delta=column((nan if c.greeks is None else c.greeks.delta for c in items), np.float64),
            quote_ts=column((c.quote_time.timestamp() for c in items), np.float64),
            standard=column((is_standard(c) for c in items), np.bool_),
        )

    def __len__(self) -> int:
        return len(self.contracts)

    @cached_property
    def mid(self) -> np.ndarray:
        return (self.bid + self.ask) / 2.0

    @cached_property
    def spread_pct(self) -> np.ndarray:
        """Spread as a fraction of mid; inf where there is no positive mid."""
        mid = self.mid
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = (self.ask - self.bid) / mid
        return np.where(mid > 0, pct, np.inf)

    def take(self, index: np.ndarray) -> OptionChain:
        """The sub-chain at ``index`` (an integer or boolean array)."""
        idx = np.flatnonzero(index) if index.dtype == np.bool_ else index
        columns = {
            name: getattr(self, name)[idx]
            for name in self.__dataclass_fields__
            if name != "contracts"
        }
        return OptionChain(contracts=tuple(self.contracts[i] for i in idx), **columns)


def occ_root(symbol: str) -> str:
    """The root of an Alpaca-style OCC symbol: everything before its last 15 characters."""
    return symbol[:-15].rstrip()


def is_standard(contract: OptionContract) -> bool:
    """A contract on 100 shares of its own underlying, not one adjusted by a corporate action.

    Adjusted contracts carry a new root (XOM2 on XOM) and an odd deliverable; they price
    off a basket, not the spot, so the rules here must not pick them.
    """
    root = occ_root(contract.symbol)
    return contract.multiplier == STANDARD_MULTIPLIER and root == contract.underlying.replace(
        ".", ""
    ).replace("/", "")
