"""Injected faults over real HTTP: observed rates match the configuration, and a committed
order whose reply was lost is still there to be found by its client_order_id."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict

import pytest
import requests

from strikeflow.sim.faults import FaultConfig
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle


def within_binomial(observed: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    """Whether ``observed`` successes of ``n`` fit probability ``p`` (normal approximation)."""
    sd = math.sqrt(n * p * (1 - p))
    return abs(observed - n * p) <= sigmas * sd + 1


def outcome(session: requests.Session, method: str, url: str, **kwargs) -> str:
    try:
        reply = session.request(method, url, timeout=10, **kwargs)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        return "dropped"
    return str(reply.status_code)


def test_error_and_rate_limit_rates_match_the_configuration(emulator):
    emulator.faults(error_5xx=0.2, rate_limit=0.1)
    n = 2_000
    seen = Counter(outcome(emulator.session, "GET", f"{emulator.url}/v2/clock") for _ in range(n))
    errors = seen["500"] + seen["503"] + seen["504"]
    assert within_binomial(errors, n, 0.2), seen
    assert within_binomial(seen["429"], n, 0.1), seen
    assert within_binomial(seen["200"], n, 0.7), seen
    assert min(seen["500"], seen["503"], seen["504"]) > 0, seen  # all three kinds occur
    counts = emulator.session.get(f"{emulator.url}/_sim/faults", timeout=10).json()["counts"]
    assert counts["429"] == seen["429"]


def test_dropped_connections_at_the_configured_rate(emulator):
    emulator.faults(drop=0.15)
    n = 600
    seen = Counter(outcome(emulator.session, "GET", f"{emulator.url}/v2/account") for _ in range(n))
    assert set(seen) <= {"200", "dropped"}, seen
    assert within_binomial(seen["dropped"], n, 0.15), seen


def test_latency_is_added_at_the_configured_rate(emulator):
    emulator.faults(latency=0.5, latency_mean_ms=40, latency_max_ms=200)
    n, delays = 200, []
    for _ in range(n):
        began = time.perf_counter()
        emulator.session.get(f"{emulator.url}/v2/clock", timeout=10).raise_for_status()
        delays.append(time.perf_counter() - began)
    counts = emulator.session.get(f"{emulator.url}/_sim/faults", timeout=10).json()["counts"]
    assert within_binomial(counts["latency"], n, 0.5), counts
    # Delays only add time, so a lower bound is safe on a noisy machine: half the requests
    # wait ~40 ms on average (capped exponential), so the mean is well above 10 ms.
    assert sum(delays) / n > 0.010
    assert max(delays) < 5  # capped at 200 ms, plus the machine's own noise


def test_commit_then_fail_keeps_the_order_and_loses_the_reply(emulator):
    emulator.faults(commit_then_fail=0.3)
    n = 200
    seen = Counter()
    for i in range(n):
        order = {
            "symbol": "AAPL",
            "qty": 1,
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "client_order_id": f"ctf-{i:04d}",
        }
        seen[outcome(emulator.session, "POST", f"{emulator.url}/v2/orders", json=order)] += 1
    assert set(seen) <= {"200", "500", "dropped"}, seen
    assert within_binomial(seen["500"] + seen["dropped"], n, 0.3), seen
    assert seen["500"] > 0, seen
    assert seen["dropped"] > 0, seen
    audit = emulator.audit()
    assert sorted(a["client_order_id"] for a in audit) == [f"ctf-{i:04d}" for i in range(n)]
    emulator.faults(commit_then_fail=0.0)
    for i in (0, n // 2, n - 1):  # every failed reply's order can be found
        found = emulator.session.get(
            f"{emulator.url}/v2/orders:by_client_order_id",
            params={"client_order_id": f"ctf-{i:04d}"},
            timeout=10,
        )
        assert found.status_code == 200
        assert found.json()["client_order_id"] == f"ctf-{i:04d}"


def test_faults_set_at_start_up_spare_the_control_routes():
    options = EmulatorOptions(
        seed=7, start=START, api_key=KEY, secret_key=SECRET, faults=FaultConfig(error_5xx=1.0)
    )
    with running_emulator(options) as url:
        handle = EmulatorHandle(url)
        statuses = {
            handle.session.get(f"{url}/v2/account", timeout=10).status_code for _ in range(30)
        }
        assert statuses <= {500, 503, 504}
        assert handle.faults(error_5xx=0.0)["config"]["error_5xx"] == 0.0
        assert handle.session.get(f"{url}/v2/account", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"error_5xx": 2}, "error_5xx"),
        ({"rate_limit": -0.1}, "rate_limit"),
        ({"error_5xx": 0.6, "rate_limit": 0.6}, "must not exceed 1"),
        ({"boom": 0.1}, "boom"),
        ({"latency_mean_ms": "slow"}, "latency_mean_ms"),
    ],
)
def test_bad_fault_settings_are_refused_by_name(emulator, settings, named):
    reply = emulator.session.post(f"{emulator.url}/_sim/faults", json=settings, timeout=10)
    assert reply.status_code == 422
    assert named in reply.json()["message"]
    unchanged = emulator.session.get(f"{emulator.url}/_sim/faults", timeout=10).json()
    assert unchanged["config"] == asdict(FaultConfig())  # nothing half-applied
