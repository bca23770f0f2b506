"""The benchmark scripts that start servers or processes keep running: the emulator's
(a real HTTP server, briefly) and the pipeline benchmark's CPU meter (real processes).
No timing asserted beyond what the meter must count."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("benchmarks_importable")


def test_emulator_benchmark_serves_every_endpoint_briefly():
    import bench_emulator

    figures = bench_emulator.emulator_figures(seconds=0.3)
    assert set(figures) == {"baseline_rps", "account_rps", "snapshot_rps", "order_rps"}
    assert all(rps > 0 for rps in figures.values())


def test_the_cpu_meter_counts_a_watched_process_from_its_start():
    """A process listed only at the end (it started inside the window) counts from zero;
    one that burnt its CPU before the window counts none of it."""
    import bench_pipeline

    burn = (
        "import sys, time\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\n"
        "print('burnt', flush=True)\n"
        "sys.stdin.read()\n"
    )

    def burner() -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout.readline() == "burnt\n"  # 0.3 s of CPU spent, now idle
        return process

    started: list[subprocess.Popen] = []
    try:
        watched = [burner().pid]
        with bench_pipeline.CpuMeter({}, {"burners": lambda: list(watched)}) as meter:
            watched.append(burner().pid)
    finally:
        for process in started:
            process.communicate("")
    assert 0.28 <= meter.spent["burners"] < 0.55  # the second one's burn, not the first's


def test_the_execution_benchmark_works_entries_and_prices_the_baseline_at_the_ask(tmp_path):
    """Twelve entries a side: every one an option order at the venue; the worked side's
    orders start below the ask and some are replaced, the baseline's never."""
    import bench_execution

    worked, marketable = (
        bench_execution.Arm("worked", "worked"),
        bench_execution.Arm("marketable", "marketable_limit"),
    )
    figures = {}
    for arm in (worked, marketable):
        orders = bench_execution.run_arm(arm, 12, 7, tmp_path)
        figures[arm.name] = bench_execution.figures(arm, orders, 120.0)
        first = {o["client_order_id"]: o for o in orders}
        for entry in arm.entries.values():
            placed = Decimal(first[entry.client_order_id]["limit_price"])
            if arm is marketable:
                assert placed == entry.ask
            else:
                assert placed < entry.ask  # the mid, on the tick
    assert figures["worked"].entries == figures["marketable"].entries == 12
    assert figures["marketable"].replaces_per_entry == 0
    assert figures["worked"].replaces_per_entry > 0
    assert figures["worked"].saved_of_half_spread > figures["marketable"].saved_of_half_spread
    assert 0 < figures["worked"].filled_at_all <= 12


def test_the_backtest_benchmark_times_each_part_of_a_day():
    """Run as a user runs it, in a process of its own: its stack's worker and logging
    are the process's (a Celery worker in a thread, its log file on the root logger)."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_backtest.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    done = subprocess.run(
        [sys.executable, str(script), "1", "--step", "60"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout
    assert "1 trading day(s) from 2027-04-12, scans every 60 min (6 steps)" in printed
    assert "days a minute (target 5:" in printed
    for part in ("scan task", "manage_positions task", "clock moves", "waits for chains"):
        assert f"    {part}" in printed
    assert "the clock alone through as many steps" in printed
