from __future__ import annotations

import math

import pytest

from strikeflow.sim.faults import FaultConfig, Faults
from strikeflow.sim.http_app import route_of

N = 20_000


def within(observed: int, p: float, n: int = N) -> bool:
    """Inside five standard deviations of a binomial(n, p) mean."""
    return abs(observed - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1


def test_observed_rates_match_the_configuration():
    faults = Faults(FaultConfig(error_5xx=0.10, rate_limit=0.05, drop=0.02, latency=0.2), seed=7)
    plans = [faults.for_request() for _ in range(N)]
    errors = sum(p.status in (500, 503, 504) for p in plans)
    assert within(errors, 0.10)
    assert within(sum(p.status == 429 for p in plans), 0.05)
    assert within(sum(p.drop for p in plans), 0.02)
    assert within(sum(p.delay_s > 0 for p in plans), 0.20)
    assert {p.status for p in plans if p.status and p.status != 429} == {500, 503, 504}
    assert max(p.delay_s for p in plans) <= 5.0
    counts = faults.report()["counts"]
    assert counts["requests"] == N
    assert counts["500"] + counts["503"] + counts["504"] == errors


def test_commit_then_fail_rate_and_kinds():
    faults = Faults(FaultConfig(commit_then_fail=0.05), seed=3)
    plans = [faults.after_order_commit() for _ in range(N)]
    failed = [p for p in plans if p is not None]
    assert within(len(failed), 0.05)
    assert {p.status for p in failed} == {500, None}
    assert any(p.drop for p in failed)


def test_the_same_seed_gives_the_same_faults():
    config = FaultConfig(error_5xx=0.3, latency=0.5)
    a, b, other = Faults(config, seed=11), Faults(config, seed=11), Faults(config, seed=12)
    plans = [a.for_request() for _ in range(500)]
    assert plans == [b.for_request() for _ in range(500)]
    assert plans != [other.for_request() for _ in range(500)]


def test_a_fixed_latency_delays_every_request_by_that_much_and_draws_nothing():
    fixed = Faults(FaultConfig(latency_fixed_ms=50), seed=5)
    assert {fixed.for_request().delay_s for _ in range(1000)} == {0.05}
    both = Faults(FaultConfig(latency_fixed_ms=50, latency=0.5, error_5xx=0.2), seed=5)
    alone = Faults(FaultConfig(latency=0.5, error_5xx=0.2), seed=5)
    for _ in range(1000):  # the same draws as without it, each 50 ms later
        with_fixed, without = both.for_request(), alone.for_request()
        assert with_fixed.status == without.status
        assert with_fixed.delay_s == pytest.approx(without.delay_s + 0.05)


def test_no_faults_by_default():
    faults = Faults()
    assert all(
        p.status is None and not p.drop and p.delay_s == 0
        for p in (faults.for_request() for _ in range(1000))
    )
    assert faults.after_order_commit() is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"error_5xx": 1.5}, "error_5xx must be a probability"),
        ({"rate_limit": -0.1}, "rate_limit must be a probability"),
        ({"error_5xx": 0.6, "rate_limit": 0.6}, "must not exceed 1"),
        ({"latency_mean_ms": 1e9}, "latency_mean_ms must be within"),
        ({"latency_fixed_ms": -1}, "latency_fixed_ms must be within"),
        ({"nonsense": 1}, "unknown fault settings: nonsense"),
    ],
)
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        Faults().update(changes)


def test_settings_change_at_run_time():
    faults = Faults(seed=2)
    faults.update({"rate_limit": 1.0})
    assert faults.for_request().status == 429


def test_requests_are_counted_by_route_their_symbols_and_ids_left_out():
    faults = Faults(FaultConfig(), seed=1)
    paths = [
        ("GET", "/v1beta1/options/snapshots/SPY"),
        ("GET", "/v1beta1/options/snapshots/QQQ"),
        ("GET", "/v2/orders:by_client_order_id"),
        ("DELETE", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d"),
    ]
    for method, path in paths:
        faults.for_request(route_of(method, path))
    counts = faults.report()["counts"]
    assert counts["requests"] == 4
    assert counts["requests GET /v1beta1/options/snapshots/{}"] == 2
    assert counts["requests GET /v2/orders:by_client_order_id"] == 1
    assert counts["requests DELETE /v2/orders/{}"] == 1
