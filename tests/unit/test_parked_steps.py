"""Steps parked on simulated time (STRIKEFLOW_WORK_TIMER=parked): both stores hand them
out in due order, each once; and the backtest's clock runs each one as simulated time
reaches it, before moving on, never moving back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from strikeflow.app_state.in_process import InProcessParkedSteps
from strikeflow.app_state.in_redis import RedisParkedSteps
from strikeflow.cli.demo_day import ParkedStepsClock

T0 = datetime(2027, 4, 12, 14, 0, tzinfo=UTC)


def stores():
    return [InProcessParkedSteps(), RedisParkedSteps(fakeredis.FakeRedis())]


@pytest.mark.parametrize("store", stores(), ids=["in_process", "redis"])
def test_steps_come_out_in_due_order_once_and_only_when_due(store):
    store.park(T0 + timedelta(seconds=30), '["b", 2]')
    store.park(T0 + timedelta(seconds=10), '["a", 1]')
    store.park(T0 + timedelta(seconds=10), '["0", 1]')  # a tie: by payload
    assert store.take_due(T0 + timedelta(seconds=9)) is None
    assert store.take_due(T0 + timedelta(seconds=10)) == (T0 + timedelta(seconds=10), '["0", 1]')
    assert store.take_due(T0 + timedelta(seconds=10)) == (T0 + timedelta(seconds=10), '["a", 1]')
    assert store.take_due(T0 + timedelta(seconds=29)) is None
    assert store.take_due(T0 + timedelta(hours=1)) == (T0 + timedelta(seconds=30), '["b", 2]')
    assert store.take_due(T0 + timedelta(hours=1)) is None


class RecordingClock:
    def __init__(self) -> None:
        self.moves: list[datetime] = []

    def move_clock(self, to: datetime) -> dict:
        self.moves.append(to)
        return {"timestamp": to.isoformat()}


def test_the_clock_runs_each_due_step_at_its_instant_before_moving_on():
    store = InProcessParkedSteps()
    clock = RecordingClock()
    ran: list[tuple[str, datetime]] = []

    def run_step(payload: str) -> None:
        ran.append((payload, clock.moves[-1]))
        if payload == "first":  # a step that parks the next one, due within the move
            store.park(clock.moves[-1] + timedelta(seconds=5), "second")

    stepped = ParkedStepsClock(clock, store.take_due, run_step)
    store.park(T0 + timedelta(seconds=10), "first")
    store.park(T0 + timedelta(minutes=5), "later")
    stepped.move_clock(T0)
    stepped.move_clock(T0 + timedelta(minutes=1))
    assert ran == [
        ("first", T0 + timedelta(seconds=10)),
        ("second", T0 + timedelta(seconds=15)),
    ]
    assert clock.moves == [
        T0,
        T0 + timedelta(seconds=10),
        T0 + timedelta(seconds=15),
        T0 + timedelta(minutes=1),
    ]
    assert stepped.steps_run == 2
    store.park(T0 + timedelta(seconds=30), "overdue")  # parked behind the clock
    stepped.move_clock(T0 + timedelta(minutes=2))
    assert ran[-1] == ("overdue", T0 + timedelta(minutes=1))  # run now, not back in time
    assert clock.moves[-1] == T0 + timedelta(minutes=2)
    assert store.take_due(T0 + timedelta(minutes=4)) is None  # "later" still waits
