"""Hand-built contracts for unit tests: liquid and fresh unless a test says otherwise."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from strikeflow.domain.enums import Right
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.models import Greeks, OptionContract
from strikeflow.domain.occ import format_occ

# Thursday 19 November 2026, 10:45 in New York: Friday the 20th is 1 DTE.
NOW = datetime(2026, 11, 19, 10, 45, tzinfo=NEW_YORK)
TODAY = date(2026, 11, 19)


def contract(
    strike: float | str = 100,
    *,
    dte: int = 1,
    right: Right | str = Right.CALL,
    underlying: str = "XYZ",
    root: str | None = None,
    bid: str = "2.00",
    ask: str = "2.10",
    volume: int = 1_000,
    open_interest: int = 5_000,
    delta: float | None = 0.5,
    implied_vol: float | None = 0.30,
    quote_age_s: float = 1.0,
    multiplier: int = 100,
    now: datetime = NOW,
) -> OptionContract:
    expiration = TODAY + timedelta(days=dte)
    k = Decimal(str(strike))
    right = Right(right)
    greeks = None if delta is None else Greeks(delta, 0.05, -0.08, 0.12, 0.02)
    return OptionContract(
        symbol=format_occ(root or underlying, expiration, right, k),
        underlying=underlying,
        expiration=expiration,
        right=right,
        strike=k,
        bid=Decimal(bid),
        ask=Decimal(ask),
        last=None,
        volume=volume,
        open_interest=open_interest,
        implied_vol=implied_vol,
        greeks=greeks,
        quote_time=now - timedelta(seconds=quote_age_s),
        multiplier=multiplier,
    )
