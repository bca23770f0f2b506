"""Times a scan's pure part: 500 tickers x 390 1-minute bars → recommendations (target < 1 s).

Run: .venv/bin/python benchmarks/bench_signals.py
Synthetic seeded bars (random walks with a few planted surges and trends), then the best
of N runs of, on the same bars:

- ``recommend`` on arrays: bar validation, features, rules, ids, records;
- the scan service (``services.scan.scan``) as a worker runs it, minus the network: the
  port's bars (500 lists of StockBar, as the Alpaca adapter returns them) onto the minute
  grid, the cached daily closes, features, rules, cooldown, ids, records, the store's
  insert (in memory) — everything between the HTTP answer and the chains;

against a baseline measured in the same run on the same array: one plain ``np.mean``
over the closes.
"""

from __future__ import annotations

import timeit
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from strikeflow.domain.enums import BarTimeframe
from strikeflow.domain.market import MarketClock, StockBar
from strikeflow.services.scan import ScanContext, scan
from strikeflow.signals.features import Bars
from strikeflow.signals.rules import RULE_DAY_TRADE, RULE_STOCK, RULE_SWING, recommend
from strikeflow.signals.rules_file import default_rules

BAR_MINUTE = datetime(2026, 11, 19, 20, 59, tzinfo=UTC)  # 15:59 New York, the session's last
TICKERS = 500
MINUTES = 390
DAYS = 10
REPEATS = 5
TARGET_S = 1.0
SURGE_EVERY = 50  # every 50th ticker gets a volume surge with a jump: a day trade
TREND_EVERY = 50  # and every 50th (offset by 25) a steady multi-day rise: a swing trade


def synthetic_bars(tickers: int, minutes: int, seed: int = 7) -> tuple[list[str], Bars]:
    """Quiet random walks, plus planted surges (+/- 3%, 10x volume) and steady trends."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(20.0, 500.0, size=(tickers, 1))
    steps = rng.normal(0.0, 0.0004, size=(tickers, minutes))
    close = start * np.exp(np.cumsum(steps, axis=1))
    volume = rng.gamma(4.0, 2_500.0, size=(tickers, minutes))
    daily = start * np.exp(np.cumsum(rng.normal(0.0, 0.01, size=(tickers, DAYS)), axis=1))
    surge = np.arange(0, tickers, SURGE_EVERY)
    sign = np.where(surge % (2 * SURGE_EVERY) == 0, 1.0, -1.0)
    close[surge, -1] = close[surge, -2] * (1.0 + 0.03 * sign)
    volume[surge, -1] = volume[surge, -21:-1].mean(axis=1) * 10.0
    trend = np.arange(TREND_EVERY // 2, tickers, TREND_EVERY)
    daily[trend] = start[trend] * 1.02 ** np.arange(1, DAYS + 1)
    names = [f"T{i:04d}" for i in range(tickers)]
    bars = Bars(close, volume, high=close * 1.001, low=close * 0.999, daily_close=daily)
    return names, bars


def best_of(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds (garbage collection left on)."""
    return min(timeit.repeat(fn, setup="gc.enable()", number=1, repeat=repeats))


def signal_figures(
    tickers: int = TICKERS, minutes: int = MINUTES, repeats: int = REPEATS
) -> dict[str, float]:
    names, bars = synthetic_bars(tickers, minutes)
    raw = {name: getattr(bars, name) for name in ("close", "volume", "high", "low", "daily_close")}

    def scan():
        return recommend(names, Bars(**raw), BAR_MINUTE, now=BAR_MINUTE)

    recs = scan()
    scan_s = best_of(scan, repeats)
    baseline_s = best_of(lambda: np.mean(raw["close"], axis=1), max(repeats, 20))
    rules = (RULE_DAY_TRADE, RULE_SWING, RULE_STOCK)
    by_rule = {rule: sum(r.rule_id == rule for r in recs) for rule in rules}
    return {
        "tickers": tickers,
        "minutes": minutes,
        "scan_ms": scan_s * 1e3,
        "baseline_ms": baseline_s * 1e3,
        "ratio": scan_s / baseline_s,
        "recommendations": len(recs),
        "day_trade": by_rule[RULE_DAY_TRADE],
        "swing": by_rule[RULE_SWING],
        "stock": by_rule[RULE_STOCK],
        "skipped": sum(r.status_reason is not None for r in recs),
    }


class _Venue:
    """MarketData and Broker with the bars already in memory (no network)."""

    def __init__(self, minute: dict, daily: dict, at: datetime) -> None:
        self.minute, self.daily, self.at = minute, daily, at

    def clock(self) -> MarketClock:
        return MarketClock(self.at, True, self.at + timedelta(days=1), self.at)

    def stock_bars(self, symbols, timeframe, start, end):
        return self.daily if timeframe is BarTimeframe.DAY else self.minute

    def positions(self):
        return []


class _Store:
    def __init__(self) -> None:
        self.rows: dict = {}

    def insert(self, rec):
        new = rec.id not in self.rows
        return self.rows.setdefault(rec.id, rec), new


class _AlwaysClaims:
    def claim(self, key: str, ttl_s: float) -> bool:
        return True

    def release(self, key: str) -> None:
        pass


class _NoCooldown:
    def last_recorded(self, keys):
        return {}

    def record(self, stamps) -> None:
        pass


def stock_bars(names: list[str], bars: Bars, last: datetime) -> tuple[dict, dict]:
    """The arrays as the port returns them: per ticker, StockBars of Decimal prices."""
    minutes = bars.close.shape[1]
    first = last - timedelta(minutes=minutes - 1)
    times = [first + timedelta(minutes=k) for k in range(minutes)]
    days = [first - timedelta(days=bars.daily_close.shape[1] - k + 1) for k in range(10)]

    def row(symbol, when, close, high, low, volume):
        def d(x):
            return Decimal(f"{x:.2f}")

        return [
            StockBar(symbol, t, d(c), d(h), d(lo), d(c), int(v))
            for t, c, h, lo, v in zip(when, close, high, low, volume, strict=True)
        ]

    minute = {
        s: row(s, times, bars.close[i], bars.high[i], bars.low[i], bars.volume[i])
        for i, s in enumerate(names)
    }
    daily = {
        s: row(s, days, bars.daily_close[i], bars.daily_close[i], bars.daily_close[i], [1] * 10)
        for i, s in enumerate(names)
    }
    return minute, daily


def scan_service_figures(
    tickers: int = TICKERS, minutes: int = MINUTES, repeats: int = REPEATS
) -> dict[str, float]:
    """The scan service on the port's bars (see the module docstring), and the same
    scan with its daily closes already cached (every scan of a day but the first)."""
    names, bars = synthetic_bars(tickers, minutes)
    at = BAR_MINUTE + timedelta(minutes=1)
    minute, daily = stock_bars(names, bars, BAR_MINUTE)
    venue = _Venue(minute, daily, at)

    def context() -> ScanContext:
        return ScanContext(
            market=venue,
            broker=venue,
            store=_Store(),
            lock=_AlwaysClaims(),
            cooldown=_NoCooldown(),
            rules=default_rules(),
            watchlist=tuple(names),
            now=lambda: at,
        )

    warm = context()
    outcome = scan(warm, at)
    cold_s = best_of(lambda: scan(context(), at), repeats)
    warm_s = best_of(lambda: scan(warm, at), repeats)
    baseline_s = best_of(lambda: np.mean(bars.close, axis=1), max(repeats, 20))
    return {
        "tickers": tickers,
        "minutes": minutes,
        "first_scan_ms": cold_s * 1e3,
        "scan_ms": warm_s * 1e3,
        "ratio": warm_s / baseline_s,
        "recommendations": len(outcome.recommendations),
        "skipped": len(outcome.skipped_signals),
    }


def main() -> None:
    f = signal_figures()
    verdict = "ok" if f["scan_ms"] < TARGET_S * 1e3 else "MISSED"
    print(f"signal scan, {f['tickers']} tickers x {f['minutes']} 1-minute bars (best of {REPEATS})")
    print(f"  bars → features → rules → records  {f['scan_ms']:9.2f} ms   target < 1 s: {verdict}")
    print(f"  baseline: np.mean over the closes  {f['baseline_ms']:9.3f} ms")
    print(f"  ratio scan / baseline              {f['ratio']:9.1f}x")
    print(
        f"  {f['recommendations']} recommendations: {f['day_trade']} day-trade options,"
        f" {f['swing']} swing options, {f['stock']} stock ({f['skipped']} skipped: no short)"
    )
    g = scan_service_figures()
    verdict = "ok" if g["scan_ms"] < TARGET_S * 1e3 else "MISSED"
    print(f"scan service: the port's StockBar lists → stored records (best of {REPEATS})")
    print(f"  a day's first scan (+ daily closes)  {g['first_scan_ms']:9.2f} ms")
    later = g["scan_ms"]
    print(f"  a later scan (daily closes cached)   {later:9.2f} ms   target < 1 s: {verdict}")
    print(f"  ratio later scan / baseline          {g['ratio']:9.1f}x")
    print(f"  {g['recommendations']} recommendations, {g['skipped']} skipped")


if __name__ == "__main__":
    main()
