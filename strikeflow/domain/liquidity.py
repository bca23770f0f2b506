"""Liquidity rules: whether a contract can be bought now and sold back later at a fair price.

The checks run over a whole chain at once (``liquidity_flags``); the single-contract
``validate_option_liquidity`` goes through the same code so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.expiry import require_aware
from strikeflow.domain.models import OptionContract
from strikeflow.domain.rejection import Reason

# Quotes are in cents but ratios are computed in float: a spread of exactly 10% must pass.
RATIO_SLACK = 1e-9

LIQUIDITY_REASONS = (
    Reason.NO_QUOTE,
    Reason.NO_BID,
    Reason.WIDE_SPREAD,
    Reason.LOW_VOLUME,
    Reason.LOW_OPEN_INTEREST,
    Reason.STALE_QUOTE,
)


@dataclass(frozen=True, slots=True)
class LiquidityRules:
    """Thresholds a contract must meet; spread is a fraction of mid (0.10 = 10%)."""

    min_volume: int = 100
    min_open_interest: int = 500
    max_spread_pct: float = 0.10
    require_bid: bool = True
    max_quote_age_s: float = 60.0

    def __post_init__(self) -> None:
        if self.min_volume < 0 or self.min_open_interest < 0:
            raise InvalidPolicy("min_volume and min_open_interest must be >= 0")
        if not 0 < self.max_spread_pct <= 2:
            raise InvalidPolicy(f"max_spread_pct must be in (0, 2], got {self.max_spread_pct}")
        if not self.max_quote_age_s > 0:
            raise InvalidPolicy(f"max_quote_age_s must be positive, got {self.max_quote_age_s}")

    def label(self, reason: Reason) -> str:
        """A short name for counting rejections: 'spread > 10%', 'volume < 100'."""
        return {
            Reason.NO_QUOTE: "no two-sided quote",
            Reason.NO_BID: "no bid",
            Reason.WIDE_SPREAD: f"spread > {self.max_spread_pct:.0%}",
            Reason.LOW_VOLUME: f"volume < {self.min_volume}",
            Reason.LOW_OPEN_INTEREST: f"open interest < {self.min_open_interest}",
            Reason.STALE_QUOTE: f"quote older than {self.max_quote_age_s:g} s",
        }[reason]

    def describe(self, reason: Reason, chain: OptionChain, i: int, now_ts: float) -> str:
        """Why contract ``i`` of ``chain`` failed ``reason``, with its own figures."""
        c = chain.contracts[i]
        if reason is Reason.NO_QUOTE:
            return f"no two-sided quote (bid {c.bid}, ask {c.ask})"
        if reason is Reason.NO_BID:
            return f"bid {c.bid}: nobody to sell it back to"
        if reason is Reason.WIDE_SPREAD:
            pct = chain.spread_pct[i]
            return (
                f"spread {c.ask - c.bid} is {pct:.1%} of mid {float(c.mid):.3f}"
                f" > {self.max_spread_pct:.0%}"
            )
        if reason is Reason.LOW_VOLUME:
            return f"volume {c.volume} < {self.min_volume}"
        if reason is Reason.LOW_OPEN_INTEREST:
            return f"open interest {c.open_interest} < {self.min_open_interest}"
        if reason is Reason.STALE_QUOTE:
            age = now_ts - chain.quote_ts[i]
            return f"quote {age:.0f} s old > {self.max_quote_age_s:g} s"
        raise ValueError(f"{reason!r} is not a liquidity reason")


def liquidity_flags(chain: OptionChain, rules: LiquidityRules, now_ts: float) -> np.ndarray:
    """One bit set per failed rule, per contract (see ``Reason``)."""
    flags = np.zeros(len(chain), dtype=np.int64)
    no_quote = ~((chain.ask > 0) & (chain.ask >= chain.bid))
    flags[no_quote] |= Reason.NO_QUOTE
    if rules.require_bid:
        flags[chain.bid <= 0] |= Reason.NO_BID
    wide = chain.spread_pct > rules.max_spread_pct + RATIO_SLACK
    flags[~no_quote & wide] |= Reason.WIDE_SPREAD
    flags[chain.volume < rules.min_volume] |= Reason.LOW_VOLUME
    flags[chain.open_interest < rules.min_open_interest] |= Reason.LOW_OPEN_INTEREST
    flags[(now_ts - chain.quote_ts) > rules.max_quote_age_s] |= Reason.STALE_QUOTE
    return flags


def validate_option_liquidity(
    contract: OptionContract, rules: LiquidityRules, now: datetime | None = None
) -> list[str]:
    """The reasons ``contract`` fails ``rules``; empty when it passes.

    Quote freshness is judged against ``now`` (the current time when omitted).
    """
    now_ts = require_aware(now).timestamp() if now is not None else datetime.now(UTC).timestamp()
    chain = OptionChain.from_contracts([contract])
    flags = int(liquidity_flags(chain, rules, now_ts)[0])
    return [rules.describe(r, chain, 0, now_ts) for r in LIQUIDITY_REASONS if flags & r]
