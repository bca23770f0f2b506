"""bench_signals.py's scan-service figure keeps running (a small input, no timing asserted)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_scan_service_benchmark_finds_the_planted_signals(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    try:
        import bench_signals

        figures = bench_signals.scan_service_figures(tickers=100, minutes=60, repeats=1)
        arrays = bench_signals.signal_figures(tickers=100, minutes=60, repeats=1)
    finally:
        sys.modules.pop("bench_signals", None)
    assert (figures["tickers"], figures["minutes"]) == (100, 60)
    # the same bars through the port's StockBars give what recommend() gives on arrays
    assert figures["recommendations"] == arrays["recommendations"] - arrays["skipped"]
    assert figures["recommendations"] >= 100 // bench_signals.SURGE_EVERY
    assert all(math.isfinite(figures[k]) and figures[k] > 0 for k in ("scan_ms", "ratio"))
