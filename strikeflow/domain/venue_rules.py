"""The venue's own trading hours for contracts that expire today (0DTE).

Alpaca refuses new orders in an option expiring today after 15:15 New York time, or
after 15:30 when the underlying is a broad-based ETF, and starts liquidating expiring
positions a quarter of an hour later ("How To Trade 0DTE Options on Alpaca",
https://alpaca.markets/learn/how-to-trade-0dte-options-on-alpaca). A contract past its
cut-off can be quoted but no longer bought, so selection turns it down by this rule
instead of letting the venue refuse the order; and the day-trade entry cut-off
(``risk.RiskLimits.day_trade_cutoff``) defaults to before the earliest of these times.
"""

from __future__ import annotations

from datetime import date, datetime, time

from strikeflow.domain.expiry import NEW_YORK, require_aware

# The broad-based ETFs whose same-day options Alpaca takes orders in until 15:30 ET:
# its documentation names SPY and QQQ "etc."; IWM and DIA are the other broad-based
# ETFs with daily or near-daily expiries. Every other underlying closes at 15:15 ET.
BROAD_BASED_ETFS: frozenset[str] = frozenset({"SPY", "QQQ", "IWM", "DIA"})
SINGLE_STOCK_ZERO_DTE_CUTOFF = time(15, 15)
BROAD_ETF_ZERO_DTE_CUTOFF = time(15, 30)
EARLIEST_ZERO_DTE_CUTOFF = min(SINGLE_STOCK_ZERO_DTE_CUTOFF, BROAD_ETF_ZERO_DTE_CUTOFF)


def zero_dte_cutoff(underlying: str) -> time:
    """New York time after which the venue takes no new order in ``underlying``'s
    contracts that expire today."""
    if underlying.upper() in BROAD_BASED_ETFS:
        return BROAD_ETF_ZERO_DTE_CUTOFF
    return SINGLE_STOCK_ZERO_DTE_CUTOFF


def zero_dte_closed(underlying: str, expiration: date, now: datetime) -> bool:
    """Whether an order in a contract on ``underlying`` expiring on ``expiration`` would
    be refused at ``now`` for being past the venue's same-day cut-off (or expired)."""
    local = require_aware(now).astimezone(NEW_YORK)
    if expiration != local.date():
        return expiration < local.date()
    return local.time() >= zero_dte_cutoff(underlying)


def zero_dte_refusal(underlying: str, now: datetime) -> str:
    """The reason in words: ``SPY 0DTE orders close at 15:30 ET; now 15:32 ET``."""
    local = require_aware(now).astimezone(NEW_YORK)
    cutoff = zero_dte_cutoff(underlying)
    return f"{underlying} 0DTE orders close at {cutoff:%H:%M} ET; now {local:%H:%M} ET"
