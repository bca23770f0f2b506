"""Times a scan's pure part: 500 tickers x 390 1-minute bars → recommendations (target < 1 s).

Run: .venv/bin/python benchmarks/bench_signals.py
Synthetic seeded bars (random walks with a few planted surges and trends), then the best
of N runs of ``recommend`` (bar validation, features, rules, ids, records), against a
baseline measured in the same run on the same array: one plain ``np.mean`` over the closes.
"""

from __future__ import annotations

import timeit
from datetime import UTC, datetime

import numpy as np

from strikeflow.signals import Bars, recommend
from strikeflow.signals.rules import RULE_DAY_TRADE, RULE_STOCK, RULE_SWING

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


if __name__ == "__main__":
    main()
