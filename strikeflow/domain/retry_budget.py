"""Retry budgets measured in time, not attempts.

A step that meets an unreachable database, venue or broker retries until a deadline set
at its first failure (``RetryBudget.deadline_s`` later), then gives up and ends terminal.
An outage is a span of time, so a budget of attempts rides it out or not depending on how
long each attempt and each random wait happened to be; a deadline does not.

The waits back off exponentially (``base_s``, doubling, at most ``cap_s``) with *equal
jitter*: each wait is drawn between half its ceiling and the ceiling, and never below
``floor_s``. Full jitter (anything from 0 to the ceiling) can draw 0 s again and again,
which spends a burst of retries in the first instant of an outage. No wait ends past the
deadline: the last try lands on it, and with less than ``floor_s`` left the step gives up.

Pure: the caller passes the clock's reading and the random draw.
"""

from __future__ import annotations

from dataclasses import dataclass

DEADLINE_S = 60.0  # rides out an outage of 30 s with 30 s to spare
FLOOR_S = 0.5
BASE_S = 1.0
CAP_S = 10.0  # after an outage ends, a waiting step tries again within this
MAX_EXPONENT = 30  # 2**30 s is past any cap: the doubling stops there


@dataclass(frozen=True)
class RetryBudget:
    """How long a step may keep retrying, and how its waits grow."""

    deadline_s: float = DEADLINE_S
    floor_s: float = FLOOR_S
    base_s: float = BASE_S
    cap_s: float = CAP_S

    def __post_init__(self) -> None:
        if not 0 < self.floor_s <= self.cap_s:
            raise ValueError(f"need 0 < floor_s <= cap_s, got {self.floor_s}, {self.cap_s}")
        if self.base_s <= 0:
            raise ValueError(f"base_s must be > 0, got {self.base_s}")
        if self.deadline_s < self.floor_s:
            raise ValueError(f"deadline_s must be >= floor_s, got {self.deadline_s}")

    def deadline_from(self, first_failure_at: float) -> float:
        """The instant retries stop, for a step that first failed at ``first_failure_at``."""
        return first_failure_at + self.deadline_s

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry ``attempt + 1`` (``attempt`` retries so far)."""
        return min(self.cap_s, self.base_s * 2 ** min(max(attempt, 0), MAX_EXPONENT))

    def longest_wait_after_recovery(self) -> float:
        """After an outage ends, a waiting step tries again within this."""
        return self.cap_s


def next_countdown(
    budget: RetryBudget, deadline: float, now: float, attempt: int, draw: float
) -> float | None:
    """Seconds to wait before the next try, or None: give up (the deadline is too near).

    ``attempt`` is the number of retries made so far (Celery's ``request.retries``);
    ``draw`` a uniform random number in [0, 1). The wait is at least ``floor_s`` and
    ``now + wait`` never passes ``deadline``.
    """
    left = deadline - now
    if left < budget.floor_s:
        return None
    ceiling = budget.ceiling(attempt)
    jittered = ceiling / 2 + min(max(draw, 0.0), 1.0) * ceiling / 2
    return min(max(budget.floor_s, jittered), left)


def schedule(budget: RetryBudget, draw: float = 0.5, work_s: float = 0.0) -> list[float]:
    """Every wait a step makes from its first failure until it gives up, each try taking
    ``work_s``: the budget's schedule, for the documentation and the tests."""
    deadline = budget.deadline_from(0.0)
    now, waits = work_s, []
    while (wait := next_countdown(budget, deadline, now, len(waits), draw)) is not None:
        waits.append(wait)
        now += wait + work_s
    return waits
