"""A tiny store of recorded market data, written by hand in Alpaca's shapes, for the
tests of the replay (tests/unit/test_recorded_market.py, tests/integration/
test_backtest_recorded.py).

ACME over three trading days, 2027-04-12 to 2027-04-14, with bars on the first two only
(the third is a day the store lacks). On the first day the stock sits at 100.00 until a
volume surge lifts it to 104.00 in the five minutes to 10:00 (the day-trade rule's
signal), then holds there to the close, and on the second day. Options:

- ACME270412C00103000, C00100000, C00107000 and P00103000 expire on the first day,
  with a quote every minute of it (priced with Black-Scholes at 30 % off the minute's
  spot, ten cents wide) and ten contracts traded each minute: the first is at the money
  at the signal and expires a dollar in the money;
- ACME270413C00103000 expires on the second day and has bars but no quote at all: the
  replay must leave it unquoted and count it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from strikeflow.domain.expiry import NEW_YORK, expiry_instant
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.pricing import bs_price
from strikeflow.domain.year_fraction import year_fraction
from strikeflow.sim.recorded_store import (
    Manifest,
    bar_table,
    contract_table,
    quote_table,
    write_store,
)

UNDERLYING = "ACME"
DAYS = (date(2027, 4, 12), date(2027, 4, 13))
START, END = date(2027, 4, 12), date(2027, 4, 14)
QUOTED = (
    "ACME270412C00103000",
    "ACME270412C00100000",
    "ACME270412C00107000",
    "ACME270412P00103000",
)
UNQUOTED = "ACME270413C00103000"
ITM_CALL = QUOTED[0]
SURGE = {25: 101.0, 26: 102.0, 27: 102.8, 28: 103.4, 29: 104.0}  # minutes after 9:30
SURGE_VOLUME = 20_000
VOL = 0.30
RATE = 0.04


def opens(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK).astimezone(UTC)


def stock_close(day: date, minute: int) -> float:
    """The close of the ``minute``-th bar of ``day`` (0 is 9:30)."""
    if day == DAYS[0] and minute < 25:
        return 100.0
    return SURGE.get(minute, 104.0) if day == DAYS[0] else 104.0


def stock_rows() -> list[dict]:
    rows = []
    for day in DAYS:
        previous = 100.0 if day == DAYS[0] else 104.0
        for minute in range(390):
            close = stock_close(day, minute)
            rows.append(
                {
                    "timestamp": opens(day) + timedelta(minutes=minute),
                    "open": previous,
                    "high": max(previous, close),
                    "low": min(previous, close),
                    "close": close,
                    "volume": SURGE_VOLUME if (day, minute) == (DAYS[0], 29) else 1_000,
                    "trade_count": 50,
                    "vwap": round((previous + close) / 2, 4),
                }
            )
            previous = close
    return rows


def option_prices(symbol: str, day: date) -> list[float]:
    """The contract's price at each minute's start of ``day``, off the previous minute's
    close (Black-Scholes at ``VOL``), at least ten cents."""
    occ = parse_occ(symbol)
    stamps = np.array([(opens(day) + timedelta(minutes=m)).timestamp() for m in range(390)])
    years = np.maximum(year_fraction(expiry_instant(occ.expiration).timestamp() - stamps), 1e-6)
    first = 100.0 if day == DAYS[0] else 104.0
    spots = np.array([first] + [stock_close(day, m) for m in range(389)])
    prices = bs_price(spots, float(occ.strike), years, RATE, 0.0, VOL, occ.right.value)
    return np.maximum(np.round(prices, 2), 0.10).tolist()


def option_rows() -> tuple[list[dict], list[dict]]:
    """(bars, quotes) of the contracts, each on the days up to its expiry."""
    bars, quotes = [], []
    for symbol in (*QUOTED, UNQUOTED):
        expiration = parse_occ(symbol).expiration
        for day in DAYS:
            if day > expiration:
                continue
            for minute, mid in enumerate(option_prices(symbol, day)):
                at = opens(day) + timedelta(minutes=minute)
                bars.append(
                    {
                        "symbol": symbol,
                        "timestamp": at,
                        "open": mid,
                        "high": mid,
                        "low": mid,
                        "close": mid,
                        "volume": 10,
                        "trade_count": 2,
                        "vwap": mid,
                    }
                )
                if symbol in QUOTED:
                    quotes.append(
                        {
                            "symbol": symbol,
                            "timestamp": at,
                            "bid_price": round(mid - 0.05, 2),
                            "ask_price": round(mid + 0.05, 2),
                            "bid_size": 20,
                            "ask_size": 25,
                        }
                    )
    return bars, quotes


def write_tiny_store(root: Path) -> Path:
    bars, quotes = option_rows()
    write_store(
        root,
        Manifest(
            symbols=(UNDERLYING,),
            start=START,
            end=END,
            feeds={"stocks": "sip", "options": "opra"},
            source="hand-written for the tests",
        ),
        stock_bars={UNDERLYING: bar_table(stock_rows(), keyed=False)},
        option_bars={UNDERLYING: bar_table(bars, keyed=True)},
        option_quotes={UNDERLYING: quote_table(quotes)},
        contracts={UNDERLYING: contract_table(dict.fromkeys((*QUOTED, UNQUOTED), 5000))},
    )
    return root
