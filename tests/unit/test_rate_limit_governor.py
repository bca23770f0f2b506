"""The rate-limit governor over the in-process budget, on a fake clock: which budget a
request spends, no 60 s carrying more than the limit, orders ahead of reads, the venue's
headers obeyed, 429s waited out and sent again, and waits bounded."""

from __future__ import annotations

import json

import pytest
import requests

from strikeflow.app_state.rate_budget import InProcessRateBudget
from strikeflow.broker_adapters.alpaca.errors import classify, never_processed
from strikeflow.broker_adapters.alpaca.rate_limit import (
    DATA,
    HOLD_CHECK_S,
    NO_RESET_WAIT_S,
    TRADING,
    GovernedSession,
    Governor,
    GovernorConfig,
    Limits,
    RateLimitWait,
    key_fingerprint,
    route_of,
)
from strikeflow.config import Settings
from strikeflow.domain.errors import BrokerUnavailable

EPOCH = 1_800_000_000.0
TRADE = "https://paper-api.alpaca.markets/v2"
EMULATOR = "http://127.0.0.1:8765"


class FakeTime:
    """monotonic, wall and sleep on one fake clock: sleeping moves both."""

    def __init__(self) -> None:
        self.mono, self.slept = 1_000.0, []

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return EPOCH + self.mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.mono += seconds


def reply(status: int = 200, **headers: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
    response._content = json.dumps({} if status < 400 else {"code": 42910000}).encode()
    return response


class ScriptedSession:
    """Answers each request with the next scripted reply (then 200s); records when."""

    def __init__(self, clock: FakeTime, replies: list[requests.Response] | None = None) -> None:
        self.clock, self.replies, self.sent = clock, list(replies or []), []
        self.closed = False

    def request(self, method: str, url: str, **_: object) -> requests.Response:
        self.sent.append((self.clock.mono, method, url))
        return self.replies.pop(0) if self.replies else reply()

    def close(self) -> None:
        self.closed = True


def governed(
    clock: FakeTime, config: GovernorConfig, budget: InProcessRateBudget | None = None
) -> tuple[Governor, InProcessRateBudget]:
    budget = budget or InProcessRateBudget(clock.monotonic, clock.wall)
    governor = Governor(
        budget, config, "key-id", monotonic=clock.monotonic, wall=clock.wall, sleep=clock.sleep
    )
    return governor, budget


@pytest.mark.parametrize(
    ("method", "url", "budget", "priority"),
    [
        ("GET", "https://data.alpaca.markets/v2/stocks/bars", DATA, False),
        ("GET", "https://data.alpaca.markets/v1beta1/options/snapshots/SPY", DATA, False),
        ("GET", f"{EMULATOR}/v2/stocks/quotes/latest", DATA, False),
        ("GET", f"{EMULATOR}/v1beta1/options/snapshots/SPY", DATA, False),
        ("GET", f"{TRADE}/options/contracts", TRADING, False),
        ("GET", f"{TRADE}/orders", TRADING, False),
        ("GET", f"{TRADE}/orders:by_client_order_id", TRADING, False),
        ("GET", f"{TRADE}/account", TRADING, False),
        ("POST", f"{TRADE}/orders", TRADING, True),
        ("PATCH", f"{EMULATOR}/v2/orders/abc", TRADING, True),
        ("DELETE", f"{EMULATOR}/v2/orders/abc", TRADING, True),
        ("DELETE", f"{EMULATOR}/v2/positions/AAPL", TRADING, True),
    ],
)
def test_each_request_spends_its_budget_and_only_orders_come_first(method, url, budget, priority):
    route = route_of(method, url)
    assert (route.budget, route.priority) == (budget, priority)


def test_no_sixty_seconds_carry_more_than_the_limit_however_greedy_the_callers():
    clock = FakeTime()
    governor, _ = governed(clock, GovernorConfig(trading=Limits(60), max_wait_s=60))
    session = ScriptedSession(clock)
    for i in range(200):  # reads and orders mixed, back to back
        method = "POST" if i % 3 == 0 else "GET"
        governor.send(method, f"{TRADE}/orders", lambda m=method: session.request(m, TRADE))
    times = [at for at, *_ in session.sent]
    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= 60
    assert busiest >= 54  # and the budget is used, not wasted: 60 x (1 - margin)
    assert governor.stats.throttled > 0


def test_an_order_goes_ahead_while_reads_wait_for_the_reserve():
    clock = FakeTime()
    limits = Limits(200, margin=0.1, reserve=0.5)  # 20 tokens, the last 10 for orders
    governor, _ = governed(clock, GovernorConfig(trading=limits))
    session = ScriptedSession(clock)
    for _ in range(10):
        governor.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    assert clock.slept == []
    governor.send("POST", f"{TRADE}/orders", lambda: session.request("POST", TRADE))
    assert clock.slept == []  # the order took a reserved token at once
    governor.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    assert clock.slept
    assert clock.slept[0] > 0
    assert governor.stats.throttled == 1


def test_nothing_remaining_holds_the_budget_until_the_venues_reset():
    clock = FakeTime()
    reset = int(clock.wall()) + 7
    governor, _budget = governed(clock, GovernorConfig(trading=None))
    session = ScriptedSession(clock, [reply(200, X_RateLimit_Remaining=0, X_RateLimit_Reset=reset)])
    governor.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    assert governor.stats.holds == 1
    governor.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    first, second = session.sent[0][0], session.sent[1][0]
    assert EPOCH + first < reset <= EPOCH + second  # the second call waited for the reset
    # the data budget is another budget: not held
    governor.send("GET", f"{EMULATOR}/v2/stocks/bars", lambda: session.request("GET", "d"))
    assert session.sent[2][0] == second


class CountingBudget(InProcessRateBudget):
    """The in-process store, counting the governor's trips to it."""

    takes = 0

    def take(self, name, rate_per_s, capacity, floor):
        self.takes += 1
        return super().take(name, rate_per_s, capacity, floor)


def test_an_unbudgeted_api_looks_for_holds_at_most_every_quarter_second():
    """Ten calls in one instant ask the store once; another process's hold is obeyed
    from the next look on, at most HOLD_CHECK_S later."""
    clock = FakeTime()
    store = CountingBudget(clock.monotonic, clock.wall)
    mine, _ = governed(clock, GovernorConfig(trading=None), store)
    other, _ = governed(clock, GovernorConfig(trading=None), store)
    session = ScriptedSession(clock)
    for _ in range(10):
        mine.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    assert store.takes == 1
    other._hold(other.name_of(TRADING), clock.wall() + 5)  # another process met "0 remaining"
    clock.mono += HOLD_CHECK_S
    mine.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    assert store.takes == 3  # the look that found the hold, and the one after its wait
    assert session.sent[-1][0] >= 1_000.0 + 5  # sent once the hold ran out
    assert clock.slept  # it waited for the hold before sending


def test_a_429_waits_for_the_reset_and_is_sent_again_by_the_governor():
    clock = FakeTime()
    reset = int(clock.wall()) + 4
    refused = reply(429, X_RateLimit_Remaining=0, X_RateLimit_Reset=reset, X_RateLimit_Limit=200)
    governor, _ = governed(clock, GovernorConfig())
    session = ScriptedSession(clock, [refused])
    answer = governor.send("POST", f"{TRADE}/orders", lambda: session.request("POST", TRADE))
    assert answer.status_code == 200
    assert len(session.sent) == 2
    assert EPOCH + session.sent[1][0] >= reset  # sent again only after the reset
    assert governor.stats.retried_429 == 1


def test_a_429_naming_no_reset_waits_a_second_and_holds_nobody_else():
    clock = FakeTime()
    governor, budget = governed(clock, GovernorConfig())
    session = ScriptedSession(clock, [reply(429)])
    assert governor.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE)).ok
    assert clock.slept == [NO_RESET_WAIT_S]
    assert budget.take(governor.name_of(TRADING), 1.0, 5.0, 0.0) == (0.0, False)


def test_a_429_past_the_longest_wait_is_the_answer_and_a_transient_failure():
    clock = FakeTime()
    reset = int(clock.wall()) + 45
    governor, _ = governed(clock, GovernorConfig(max_wait_s=20))
    session = ScriptedSession(clock, [reply(429, X_RateLimit_Remaining=0, X_RateLimit_Reset=reset)])
    answer = governor.send("POST", f"{TRADE}/orders", lambda: session.request("POST", TRADE))
    assert answer.status_code == 429
    assert len(session.sent) == 1
    assert clock.slept == []
    assert governor.stats.gave_up == 1


def test_a_budget_wait_past_the_longest_wait_is_never_sent_and_reads_as_a_429():
    clock = FakeTime()
    governor, budget = governed(clock, GovernorConfig(max_wait_s=5))
    budget.hold_until(governor.name_of(TRADING), clock.wall() + 30)
    session = ScriptedSession(clock)
    with pytest.raises(RateLimitWait) as waited:
        governor.send("POST", f"{TRADE}/orders", lambda: session.request("POST", TRADE))
    assert session.sent == []
    failure = classify(waited.value, "submit")
    assert isinstance(failure, BrokerUnavailable)  # transient: its task retries
    assert failure.status == 429
    assert never_processed(failure)  # so submit looks nothing up: nothing was sent
    assert not never_processed(classify(requests.ConnectionError("reset"), "submit"))


def test_processes_sharing_one_store_share_one_budget():
    clock = FakeTime()
    config = GovernorConfig(trading=Limits(60, margin=0.1, reserve=0.0))  # 6 tokens
    first, budget = governed(clock, config)
    second, _ = governed(clock, config, budget)
    session = ScriptedSession(clock)
    for governor in (first, second, first, second, first, second):
        governor.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    assert clock.slept == []
    second.send("GET", f"{TRADE}/account", lambda: session.request("GET", TRADE))
    assert clock.slept  # the seventh waits, whichever process sends it


def test_a_budget_is_per_key_and_names_no_key():
    assert key_fingerprint("key-a") != key_fingerprint("key-b")
    assert "key-a" not in key_fingerprint("key-a")


def test_the_governed_session_forwards_and_closes():
    clock = FakeTime()
    governor, _ = governed(clock, GovernorConfig())
    inner = ScriptedSession(clock)
    session = GovernedSession(inner, governor)
    assert session.request("GET", f"{TRADE}/account", timeout=1).ok
    session.close()
    assert inner.closed
    assert governor.stats.calls == 1


def test_the_settings_build_the_budgets_and_zero_means_none():
    config = GovernorConfig.from_settings(
        Settings(alpaca_trading_rate_limit=120, alpaca_data_rate_limit=0)
    )
    assert config.trading == Limits(120, 0.1, 0.5, 60.0)
    assert config.data is None
    assert config.max_wait_s == 20.0
    assert config.trading.rate_per_s == pytest.approx(1.8)
    assert config.trading.capacity == pytest.approx(12.0)


def test_unset_limits_are_alpacas_against_alpaca_and_none_against_the_emulator():
    alpaca = GovernorConfig.from_settings(Settings())
    assert alpaca.trading == Limits(200)
    assert alpaca.data == Limits(200)
    emulator = GovernorConfig.from_settings(Settings(alpaca_base_url=EMULATOR))
    assert (emulator.trading, emulator.data) == (None, None)
    live = Settings(alpaca_trading_url="https://api.alpaca.markets", alpaca_data_url=EMULATOR)
    mixed = GovernorConfig.from_settings(live)
    assert mixed.trading == Limits(200)
    assert mixed.data is None
    scaled = Settings(alpaca_base_url=EMULATOR, alpaca_trading_rate_limit=50,
                      alpaca_rate_window_s=10)  # fmt: skip
    assert GovernorConfig.from_settings(scaled).trading == Limits(50, window_s=10)


@pytest.mark.parametrize(
    "env", [("alpaca_trading_rate_limit", -1), ("alpaca_rate_margin", 1.0),
            ("alpaca_rate_max_wait_s", 0), ("alpaca_order_reserve", 1)],
)  # fmt: skip
def test_bad_settings_are_refused(env):
    with pytest.raises(ValueError, match=env[0]):
        Settings(**{env[0]: env[1]})


def test_every_client_of_an_adapter_is_governed_once():
    from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret
    from strikeflow.broker_adapters.alpaca.http import build_clients
    from strikeflow.broker_adapters.alpaca.transport import PooledSession

    clock = FakeTime()
    first, _ = governed(clock, GovernorConfig())
    second, _ = governed(clock, GovernorConfig())
    config = AlpacaConfig(Secret("key-id"), Secret("secret"), base_url=EMULATOR)
    clients = build_clients(config, first)
    assert all(c._session.governor is first for c in clients.all)
    clients.govern(second)  # a new governor replaces the old: never two layers
    for client in clients.all:
        assert client._session.governor is second
        assert isinstance(client._session.inner, PooledSession)
    clients.close()
