"""The benchmark scripts' own logic, and small runs of the pure-Python ones (no timing
asserted). The runs that start servers are in tests/integration/test_benchmark_servers.py;
the pipeline benchmark's fleet is in tests/e2e/test_benchmark_pipeline.py."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.usefixtures("benchmarks_importable")


def test_pricing_benchmark_agrees_with_vollib_on_a_small_run():
    import bench_pricing

    figures = bench_pricing.pricing_figures(contracts=1_000, sample=40, repeats=1)
    assert figures["contracts"] == 1_000
    assert all(math.isfinite(figures[k]) for k in ("total_ms", "vollib_ms", "speedup"))
    assert figures["max_greek_gap_vs_vollib"] < 1e-9
    assert figures["max_iv_gap_vs_vollib"] < 1e-7


def test_selection_benchmark_selects_on_a_5000_contract_chain(monkeypatch):
    import bench_selection

    monkeypatch.setattr(bench_selection, "REPEATS", 1)
    figures = bench_selection.selection_figures()
    assert figures["contracts"] == 5_000
    assert figures["atm_day_ms"] > 0
    assert figures["delta_swing_ms"] > 0


def test_signals_benchmark_finds_the_planted_signals_on_a_small_scan():
    import bench_signals

    figures = bench_signals.signal_figures(tickers=100, minutes=60, repeats=1)
    assert (figures["tickers"], figures["minutes"]) == (100, 60)
    assert figures["day_trade"] == 100 // bench_signals.SURGE_EVERY
    assert figures["swing"] >= 100 // bench_signals.TREND_EVERY
    assert all(math.isfinite(figures[k]) and figures[k] > 0 for k in ("scan_ms", "ratio"))


def test_a_pipeline_run_leaves_its_logs_only_when_it_failed(tmp_path, capsys):
    import bench_pipeline

    kept, removed = tmp_path / "failed", tmp_path / "ended-well"
    for directory in (kept, removed):
        directory.mkdir()
        (directory / "worker.log").write_text("...")
    with bench_pipeline.kept_on_failure(removed):
        pass
    with pytest.raises(TimeoutError), bench_pipeline.kept_on_failure(kept):
        raise TimeoutError("a chain never ended")
    assert not removed.exists()
    assert (kept / "worker.log").read_text() == "..."
    assert f"its logs are in {kept}" in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["split", "one"])
def test_both_pipeline_layouts_give_each_side_the_same_processes_and_every_queue(layout):
    import bench_pipeline

    specs = bench_pipeline.workers(4, layout)
    pipeline = [s for s in specs if s.name != bench_pipeline.BARE_WORKER]
    (bare,) = [s for s in specs if s.name == bench_pipeline.BARE_WORKER]
    assert sum(s.concurrency for s in pipeline) == bare.concurrency == 4
    queues = sorted(q for s in pipeline for q in s.queues)
    assert queues == ["dispatch", "marketdata", "orders", "persistence"]
    assert len(pipeline) == (2 if layout == "split" else 1)


def test_the_pipeline_benchmark_refuses_an_unknown_layout_by_name(capsys):
    import bench_pipeline

    with pytest.raises(ValueError, match="layout must be one of split, one, got 'both'"):
        bench_pipeline.workers(4, "both")
    with pytest.raises(SystemExit) as refused:
        bench_pipeline.arguments(["90", "4", "--layout", "both"])
    assert refused.value.code == 2
    assert "invalid choice: 'both'" in capsys.readouterr().err
    assert bench_pipeline.arguments(["30"]).layout == "split"


def test_several_runs_report_the_median_run_and_every_runs_figure():
    import bench_pipeline

    runs = [{"throughput_ratio": r, "latency_ratio": 2.0 + r} for r in (0.41, 0.52, 0.38, 0.47)]
    assert bench_pipeline.median_run(runs) is runs[0]  # 0.38, 0.41 | 0.47, 0.52: the lower
    assert bench_pipeline.median_run(runs[:3]) is runs[0]
    assert bench_pipeline.spread(runs, "throughput_ratio") == (
        "0.41, 0.52, 0.38, 0.47 (median 0.41, 0.38-0.52)"
    )
    assert bench_pipeline.arguments(["90", "4", "--runs", "3"]).runs == 3
    assert bench_pipeline.arguments([]).runs == bench_pipeline.RUNS == 5


def test_the_pipeline_benchmark_refuses_fewer_than_one_run(capsys):
    import bench_pipeline

    with pytest.raises(SystemExit) as refused:
        bench_pipeline.arguments(["--runs", "0"])
    assert refused.value.code == 2
    assert "--runs must be at least 1, got 0" in capsys.readouterr().err


def test_the_latency_benchmark_counts_the_round_trips_a_chain_waits_for(capsys):
    import bench_latency

    routes = {"GET /v2/account": 1.0, "POST /v2/orders": 1.0}
    near = bench_latency.Timing(
        0.0, [0.030, 0.020, 0.050], [0.060, 0.070, 0.080], 9.0, routes, 0.001
    )
    # one request costs 51 ms more at the added 50 ms: a round trip is 50 ms of it
    three_trips = bench_latency.Timing(
        50.0, [0.180, 0.170, 0.200], [0.260, 0.270, 0.280], 9.0, routes, 0.051
    )
    assert bench_latency.report(near, three_trips) is False
    printed = capsys.readouterr().out
    assert "3.00 to the order, 4.00 to the persisted execution" in printed
    assert "venue requests an execution: 9.0" in printed
    assert "CALL   to order p50   30 ms, then  180 ms: 3.00 round trips" in printed
    assert "1.00  POST /v2/orders" in printed
    two_trips = bench_latency.Timing(
        50.0, [0.130, 0.120, 0.150], [0.160, 0.170, 0.180], 9.0, routes, 0.051
    )
    assert bench_latency.report(near, two_trips) is True  # 2.0 trips, 140 ms <= 140 ms
    slow = bench_latency.Timing(
        50.0, [0.130, 0.120, 0.150], [0.160, 0.170, 0.180], 9.0, routes, 0.041
    )
    assert bench_latency.report(near, slow) is False  # 40 ms a trip: 2.5 trips
