"""The emulator's rate limits on a fake wall clock: Alpaca's headers on every verdict, a
429 beyond the limit, windows per key and per budget, 0 as no limit, and the counts."""

from __future__ import annotations

import pytest

from strikeflow.sim.rate_limits import DATA, TRADING, RateLimitConfig, RateLimiter, budget_of

EPOCH = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.mono = 50.0

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return EPOCH + self.mono


def limiter(clock: FakeClock, trading: int = 3, data: int = 2) -> RateLimiter:
    return RateLimiter(RateLimitConfig(trading, data), clock.monotonic, clock.wall)


def test_the_headers_count_down_and_the_one_past_the_limit_is_refused():
    clock = FakeClock()
    limits = limiter(clock)
    verdicts = [limits.admit("key", "/v2/account") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
    assert {v.limit for v in verdicts} == {3}
    assert {v.reset_epoch_s for v in verdicts} == {int(EPOCH + 50 + 60)}
    names = [name for name, _ in verdicts[0].headers()]
    assert names == [b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"]


def test_the_window_runs_on_wall_time_and_opens_afresh_after_it_ends():
    clock = FakeClock()
    limits = limiter(clock)
    for _ in range(3):
        limits.admit("key", "/v2/orders")
    clock.mono += 59.9
    assert not limits.admit("key", "/v2/orders").allowed
    clock.mono += 0.1
    again = limits.admit("key", "/v2/orders")
    assert again.allowed
    assert again.remaining == 2


def test_keys_and_budgets_are_counted_apart():
    clock = FakeClock()
    limits = limiter(clock, trading=1, data=1)
    assert limits.admit("a", "/v2/account").allowed
    assert limits.admit("b", "/v2/account").allowed
    assert limits.admit("a", "/v2/stocks/bars").allowed
    assert limits.admit("a", "/v1beta1/options/snapshots/SPY").allowed is False
    assert limits.admit("a", "/v2/options/contracts").allowed is False  # trading API


@pytest.mark.parametrize(
    ("path", "budget"),
    [("/v2/stocks/bars", DATA), ("/v1beta1/options/snapshots/SPY", DATA),
     ("/v2/orders", TRADING), ("/v2/options/contracts", TRADING), ("/v2/clock", TRADING)],
)  # fmt: skip
def test_data_paths_spend_the_data_budget(path, budget):
    assert budget_of(path) == budget


def test_zero_is_no_limit_and_no_headers():
    clock = FakeClock()
    limits = RateLimiter(None, clock.monotonic, clock.wall)
    assert all(limits.admit("key", "/v2/orders") is None for _ in range(1000))
    assert limits.stats()[TRADING]["admitted"] == 1000


def test_new_limits_start_every_window_afresh_and_keep_the_counts():
    clock = FakeClock()
    limits = limiter(clock, trading=1)
    limits.admit("key", "/v2/orders")
    assert not limits.admit("key", "/v2/orders").allowed
    limits.configure(RateLimitConfig(5, 5))
    assert limits.admit("key", "/v2/orders").remaining == 4
    stats = limits.stats()
    assert stats[TRADING]["admitted"] == 2
    assert stats[TRADING]["refused_429"] == 1
    assert stats["limits"]["trading_limit"] == 5


def test_the_peak_is_the_most_admitted_in_any_window():
    clock = FakeClock()
    limits = limiter(clock, trading=100)
    for step in (0, 10, 20, 50, 65, 70, 71):  # 50..71 holds four, 0..50 four
        clock.mono = 50.0 + step
        limits.admit("key", "/v2/account")
    assert limits.stats()[TRADING]["peak_per_window"] == 5  # 20, 50, 65, 70, 71


@pytest.mark.parametrize(
    "bad", [{"trading_limit": -1}, {"data_limit": 1.5}, {"window_s": 0},
            {"trading_limit": True}],
)  # fmt: skip
def test_bad_limits_are_refused_with_their_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        RateLimitConfig(**bad)
