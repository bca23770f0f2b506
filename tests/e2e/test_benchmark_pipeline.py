"""The pipeline benchmark keeps running: a fleet of worker processes, its own
redis-server, the emulator and a PostgreSQL database of its own, for a handful of
chains of each kind (no timing asserted)."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.usefixtures("benchmarks_importable")


def test_pipeline_benchmark_runs_a_few_chains_of_each_kind():
    """A fleet, the emulator and PostgreSQL for a handful of chains (Redis dbs 12-14)."""
    import bench_pipeline

    figures = bench_pipeline.pipeline_runs(recommendations=3, unloaded=2)[0]
    assert figures["recommendations"] == 3
    assert figures["executed"] == 3
    # PostgreSQL's and Redis's few ms over three chains may round to no clock tick at all
    servers = {"cpu_ms_postgresql", "cpu_ms_redis_pipeline", "cpu_ms_redis_bare"}
    servers |= {"cpu_ms_steps_emulator", "cpu_ms_steps_postgresql", "cpu_ms_steps_redis"}
    assert figures["steps_sent"] == figures["steps_executed"] == 3  # the steps alone, too
    assert servers <= set(figures)
    assert all(math.isfinite(figures[k]) and figures[k] >= 0 for k in servers), figures
    others = {k: v for k, v in figures.items() if k not in servers}
    assert all(math.isfinite(value) and value > 0 for value in others.values()), figures
