"""The retry budget (``domain.retry_budget``): waits that back off with a floor, never
past the deadline, and a budget that rides out an outage of 30 s."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strikeflow.domain.retry_budget import (
    CAP_S,
    DEADLINE_S,
    FLOOR_S,
    RetryBudget,
    next_countdown,
    schedule,
)

BUDGET = RetryBudget()  # 60 s, floor 0.5 s, base 1 s, cap 10 s
T0 = 1_700_000_000.0  # a first failure, in seconds since the epoch
DEADLINE = BUDGET.deadline_from(T0)


@pytest.mark.parametrize(
    ("now", "attempt", "draw", "expected"),
    [
        # equal jitter: between half the ceiling and the ceiling (1, 2, 4, 8, 10, 10 s)
        (T0, 0, 0.0, 0.5),
        (T0, 0, 0.999, 0.9995),
        (T0, 1, 0.0, 1.0),
        (T0, 2, 0.5, 3.0),
        (T0, 3, 1.0, 8.0),
        (T0, 4, 0.0, 5.0),
        (T0, 9, 1.0, CAP_S),
        (T0, 500, 1.0, CAP_S),  # no overflow, still the cap
        # never past the deadline: the last wait lands on it
        (DEADLINE - 3.0, 6, 1.0, 3.0),
        (DEADLINE - FLOOR_S, 6, 1.0, FLOOR_S),
        # too near the deadline for even the floor: give up
        (DEADLINE - FLOOR_S + 0.01, 6, 1.0, None),
        (DEADLINE, 0, 0.5, None),
        (DEADLINE + 100, 2, 0.5, None),
    ],
)
def test_the_next_countdown(now, attempt, draw, expected):
    wait = next_countdown(BUDGET, DEADLINE, now, attempt, draw)
    assert wait == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (RetryBudget(), [0.75, 1.5, 3.0, 6.0, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 3.75]),
        (RetryBudget(deadline_s=10), [0.75, 1.5, 3.0, 4.75]),
        (RetryBudget(deadline_s=3, floor_s=2), [2.0]),
    ],
)
def test_the_whole_schedule_fills_the_budget(budget, expected):
    waits = schedule(budget, draw=0.5)
    assert waits == pytest.approx(expected)
    assert sum(waits) <= budget.deadline_s


def test_a_floor_above_the_drawn_wait_wins_and_the_last_wait_is_cut_at_the_deadline():
    budget = RetryBudget(deadline_s=3, floor_s=2)
    assert next_countdown(budget, 3.0, 0.0, 0, 0.0) == 2.0  # drawn 0.5 s, floor 2 s
    assert next_countdown(budget, 3.0, 2.0, 1, 1.0) is None  # 1 s left < floor


def test_the_default_rides_out_an_outage_of_30_s_and_retries_soon_after():
    """A step failing from the first instant of a 30 s outage is still retrying when it
    ends, and tries again within the cap: its last try is past the outage."""
    for draw in (0.0, 0.5, 0.999):
        for work_s in (0.0, 0.05, 2.0):
            tries = [0.0]
            for wait in schedule(BUDGET, draw=draw, work_s=work_s):
                tries.append(tries[-1] + work_s + wait)
            assert tries[-1] >= 30.0
            after = [t for t in tries if t >= 30.0]
            assert after[0] - 30.0 <= BUDGET.longest_wait_after_recovery() + work_s
    assert DEADLINE_S >= 30.0 + CAP_S


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"floor_s": 0}, "floor_s"),
        ({"floor_s": -1}, "floor_s"),
        ({"floor_s": 20}, "cap_s"),
        ({"base_s": 0}, "base_s"),
        ({"deadline_s": 0.1}, "deadline_s"),
    ],
)
def test_a_budget_that_cannot_work_is_refused(fields, says):
    with pytest.raises(ValueError, match=says):
        RetryBudget(**fields)


budgets = st.builds(
    lambda deadline, floor, base, cap: RetryBudget(
        deadline_s=deadline, floor_s=min(floor, cap), base_s=base, cap_s=cap
    ),
    deadline=st.floats(5, 600),
    floor=st.floats(0.01, 5),
    base=st.floats(0.01, 10),
    cap=st.floats(0.5, 60),
)


@given(
    budget=budgets,
    first=st.floats(0, 2e9),
    elapsed=st.floats(-5, 700),
    attempt=st.integers(0, 10_000),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_never_below_the_floor_never_past_the_deadline(budget, first, elapsed, attempt, draw):
    deadline = budget.deadline_from(first)
    now = first + elapsed
    wait = next_countdown(budget, deadline, now, attempt, draw)
    if wait is None:
        assert deadline - now < budget.floor_s
    else:
        assert wait >= budget.floor_s
        assert wait <= budget.cap_s
        assert now + wait <= deadline + 1e-6 * max(1.0, abs(deadline))


@given(budget=budgets, draw=st.floats(0, 1, exclude_max=True), work=st.floats(0, 5))
def test_a_schedule_ends_by_its_deadline_in_a_bounded_number_of_tries(budget, draw, work):
    waits = schedule(budget, draw=draw, work_s=work)
    assert len(waits) <= budget.deadline_s / budget.floor_s + 1
    assert sum(waits) + work * len(waits) <= budget.deadline_s + 1e-6
