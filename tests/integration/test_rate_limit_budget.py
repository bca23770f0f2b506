"""The fleet's rate budgets in a real Redis: the Lua script takes atomically (threads
racing never take more than the bucket holds), leaves the reserve to orders, obeys and
keeps the later hold, expires when idle, and lets calls through when Redis is down.

On this test process's app db number, under a prefix of its own that it deletes after:
other tests may share the db."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from strikeflow.app_state.rate_budget import IDLE_EXPIRY_MS, RedisRateBudget, rate_budget
from tests.integration.conftest import worker_dbs

SLOW = 0.001  # tokens a second: nothing refills within a test


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    dbs = worker_dbs()
    client = redis.Redis(host=dbs.host, port=dbs.port, db=dbs.app, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def budget(client) -> Iterator[RedisRateBudget]:
    prefix = f"test:ratelimit:{uuid.uuid4().hex}:"
    yield RedisRateBudget(client, prefix)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


def test_ordinary_calls_leave_the_reserve_that_orders_may_take(budget):
    granted = [budget.take("trading:k", SLOW, 10, 4)[0] == 0 for _ in range(8)]
    assert granted == [True] * 6 + [False] * 2
    wait, held = budget.take("trading:k", SLOW, 10, 4)
    assert wait > 100  # a token at 0.001/s is a long way off
    assert not held
    orders = [budget.take("trading:k", SLOW, 10, 0)[0] == 0 for _ in range(5)]
    assert orders == [True] * 4 + [False]


def test_racing_threads_never_take_more_than_the_bucket_holds(budget):
    def take(_: int) -> bool:
        return budget.take("data:k", SLOW, 20, 0)[0] == 0

    with ThreadPoolExecutor(8) as pool:
        granted = sum(pool.map(take, range(200)))
    assert granted == 20


def test_the_bucket_refills_at_its_rate(budget):
    for _ in range(2):
        assert budget.take("trading:r", 50.0, 2, 0) == (0.0, False)
    wait, _ = budget.take("trading:r", 50.0, 2, 0)
    assert 0 < wait <= 0.021
    time.sleep(wait + 0.01)  # waiting out the bucket's own figure: what a caller does
    assert budget.take("trading:r", 50.0, 2, 0) == (0.0, False)


def test_a_hold_stops_every_call_until_it_ends_and_the_later_hold_wins(budget, client):
    until = time.time() + 3
    budget.hold_until("trading:h", until)
    budget.hold_until("trading:h", until - 2)  # an earlier reset does not shorten it
    wait, held = budget.take("trading:h", 100.0, 100, 0)
    assert held
    assert 2.5 < wait <= 3.1
    assert budget.take("data:h", 100.0, 100, 0) == (0.0, False)  # another budget
    budget.hold_until("trading:past", time.time() - 5)  # a reset gone by: nothing held
    assert budget.take("trading:past", 100.0, 100, 0) == (0.0, False)


def test_an_idle_bucket_expires(budget, client):
    budget.take("trading:e", 1.0, 5, 0)
    ttl = client.pttl(next(iter(client.scan_iter(match="*trading:e"))))
    assert 0 < ttl <= IDLE_EXPIRY_MS


def test_a_redis_that_is_down_lets_calls_through():
    down = rate_budget("redis://127.0.0.1:1/0")
    assert down.take("trading:x", 1.0, 1, 0) == (0.0, False)
    down.hold_until("trading:x", time.time() + 10)  # not recorded, not raised


def test_a_governed_call_costs_one_round_trip(budget, capsys):
    """The figure docs/operations.md quotes: the budget's cost per call, on this Redis."""
    calls = 2_000
    started = time.perf_counter()
    for _ in range(calls):
        budget.take("trading:cost", 1e6, 1e6, 0)
    per_call_ms = (time.perf_counter() - started) / calls * 1000
    with capsys.disabled():
        print(f"\nrate budget: {per_call_ms:.3f} ms a governed call ({calls} EVALSHA)")
    assert per_call_ms < 5
