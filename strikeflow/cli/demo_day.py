"""The compressed trading day: the emulator's clock moves through the session a step at a
time, and at each step the scan fires, its chains run to a terminal state,
manage_positions decides the exits of what is held (their closing chains run to a
terminal state too), and reconcile_orders records what the venue filled.

Nothing sleeps to synchronise: every wait polls the database (or a task's result) with
a deadline, and a deadline that passes stops the day with what was still running.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from celery import Celery

from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.services.queries import Records, statuses_of
from strikeflow.sim import calendar
from strikeflow.tasks.working import parked_step

POLL_S = 0.002
CHAIN_DEADLINE_S = 30.0
TASK_DEADLINE_S = 30.0
# After the close: the venue expires day orders and settles expiring options at 16:00;
# the last reconcile records the orders, record_venue_events the expirations, exercises
# and assignments (what the venue closed on its own, as beat has it read every minute).
AFTER_CLOSE = timedelta(minutes=5)
# reconcile_orders every this many steps, as beat sends it every few seconds: fills
# change nothing the scans look at, so the day need not pay for a round trip per minute.
RECONCILE_EVERY = 5
# After a step's orders are in, the clock moves this much more before the next step: the
# venue tries a fill once its fill delay (1 s) has passed, against the quote of that
# moment, as a live venue fills a marketable order a second after it arrives; without
# it the first try would be a whole step later, at another price.
FILL_AFTER = timedelta(seconds=2)
TERMINAL = tuple(s.value for s in RecommendationStatus if s.terminal)


class DemoTimeout(RuntimeError):
    """A wait ran past its deadline."""


class Clock(Protocol):
    def move_clock(self, to: datetime) -> dict[str, Any]: ...


Scan = Callable[[datetime], dict[str, Any]]
Manage = Callable[[datetime], dict[str, Any]]
# The queue manage_positions runs on (the dispatch queue, beside the closes it sends).
MANAGE_QUEUE = "dispatch"
WORK_QUEUE = "orders"  # a worked order's steps, as the workers' routes send them


def session_steps(day: date, step_minutes: int) -> list[datetime]:
    """The instants the day is scanned at: every ``step_minutes`` after the open while the
    market is open (at the close it is not: the scan of 16:00 would be skipped). A closed
    day has none."""
    if step_minutes < 1:
        raise ValueError(f"the step must be at least one minute, got {step_minutes}")
    hours = calendar.session(day)
    if hours is None:
        return []
    opens, closes = hours
    minutes = int((closes - opens).total_seconds() // 60)
    return [opens + timedelta(minutes=m) for m in range(step_minutes, minutes, step_minutes)]


@dataclass
class DayTally:
    """What the day did, for the progress bar and the summary."""

    scans: int = 0
    skipped_scans: int = 0
    sent: list[str] = field(default_factory=list)
    skipped_signals: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    fills_recorded: int = 0
    exits: Counter[str] = field(default_factory=Counter)  # closes sent, by exit rule
    venue_events: int = 0  # expirations, exercises, assignments recorded after the close

    def line(self) -> str:
        done = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "none yet"
        closes = sum(self.exits.values())
        return f"{self.scans} scans · {len(self.sent)} chains · {done} · {closes} exits"


TakeDue = Callable[[datetime], "tuple[datetime, str] | None"]


class ParkedStepsClock:
    """A clock that never moves past a parked step (STRIKEFLOW_WORK_TIMER=parked): before
    it moves to an instant, each step due by then is run, in due order, with the clock
    moved to its due instant first; a step a step parks is run too when it falls due by
    then. So a worked order's ladder waits in simulated time, as beat's countdowns wait
    in wall time, and the run repeats whatever the timing of the threads."""

    def __init__(self, clock: Clock, take_due: TakeDue, run_step: Callable[[str], Any]) -> None:
        self._clock, self._take_due, self._run_step = clock, take_due, run_step
        self._at: datetime | None = None
        self.steps_run = 0

    def move_clock(self, to: datetime) -> dict[str, Any]:
        while (due := self._take_due(to)) is not None:
            at, payload = due
            if self._at is None or at > self._at:  # never backwards
                self._move(at)
            self._run_step(payload)
            self.steps_run += 1
        return self._move(to)

    def _move(self, to: datetime) -> dict[str, Any]:
        moved = self._clock.move_clock(to)
        self._at = to
        return moved


def awaited(app: Celery, name: str, deadline_s: float, **options: Any) -> Any:
    """Send the task ``name`` (``options`` as ``send_task`` takes them) and wait for its
    result: the driver runs each task as beat sends it, one at a time."""
    return app.send_task(name, **options).get(timeout=deadline_s, interval=POLL_S)


def task_work_step(app: Celery, deadline_s: float = TASK_DEADLINE_S) -> Callable[[str], Any]:
    """A parked step of a worked order (``tasks.working.send`` parked it) run as the task
    ``strikeflow.work_order``, awaited: what it parks next is parked when it returns."""

    def run(payload: str) -> Any:
        args = list(parked_step(payload))
        return awaited(app, "strikeflow.work_order", deadline_s, args=args, queue=WORK_QUEUE)

    return run


def task_scan(app: Celery, deadline_s: float = TASK_DEADLINE_S) -> Scan:
    """The scan as beat fires it: ``strikeflow.scan`` on the signals queue, with ``at``."""

    def scan(at: datetime) -> dict[str, Any]:
        return awaited(app, "strikeflow.scan", deadline_s, kwargs={"at": at.isoformat()})

    return scan


def task_manage(app: Celery, deadline_s: float = TASK_DEADLINE_S) -> Manage:
    """``strikeflow.manage_positions`` as beat fires it every minute, with ``at``."""

    def manage(at: datetime) -> dict[str, Any]:
        return awaited(
            app,
            "strikeflow.manage_positions",
            deadline_s,
            kwargs={"at": at.isoformat()},
            queue=MANAGE_QUEUE,
        )

    return manage


def reconcile(app: Celery, deadline_s: float = TASK_DEADLINE_S) -> int:
    """``strikeflow.reconcile_orders`` once: the number of executions it updated."""
    return int(awaited(app, "strikeflow.reconcile_orders", deadline_s))


def record_venue_events(app: Celery, deadline_s: float = TASK_DEADLINE_S) -> int:
    """``strikeflow.record_venue_events`` once, as beat sends it: the events it recorded."""
    return int(awaited(app, "strikeflow.record_venue_events", deadline_s).get("new") or 0)


def after_close(at: datetime) -> datetime:
    """``AFTER_CLOSE`` past the close of ``at``'s session (past ``at`` on a closed day):
    whatever the last step, the day ends once the venue has settled it."""
    hours = calendar.session(at.astimezone(NEW_YORK).date())
    return max(at, hours[1] if hours is not None else at) + AFTER_CLOSE


def wait_terminal(
    records: Records, ids: Sequence[str], deadline_s: float = CHAIN_DEADLINE_S
) -> dict[str, str]:
    """Poll the database until every recommendation in ``ids`` is terminal; their statuses."""
    if not ids:
        return {}
    end = time.monotonic() + deadline_s
    while True:
        statuses = statuses_of(records, ids)
        waiting = [i for i in ids if statuses.get(i) not in TERMINAL]
        if not waiting:
            return statuses
        if time.monotonic() > end:
            shown = ", ".join(f"{i} ({statuses.get(i, 'absent')})" for i in waiting[:5])
            raise DemoTimeout(
                f"{len(waiting)} chain(s) not finished after {deadline_s:g} s: {shown}"
            )
        time.sleep(POLL_S)


def run_day(
    clock: Clock,
    scan: Scan,
    reconcile_once: Callable[[], int],
    wait: Callable[[Sequence[str]], dict[str, str]],
    steps: Iterable[datetime],
    tally: DayTally | None = None,
    manage: Manage | None = None,
    venue_events: Callable[[], int] | None = None,
) -> Iterator[tuple[datetime, DayTally]]:
    """The day, one step per iteration (the caller draws progress between them): move the
    clock, scan, ``wait`` for the chains the scan sent (their terminal statuses), then
    ``manage`` the positions held and wait for the closes it sent, and every few steps
    reconcile. After the last step the clock moves past the close, where the venue
    settles the day: a last reconcile, then ``venue_events``."""
    tally = tally or DayTally()
    last: datetime | None = None
    for n, at in enumerate(steps, 1):
        clock.move_clock(at)
        outcome = scan(at)
        tally.scans += 1
        if outcome.get("skipped"):
            tally.skipped_scans += 1
        for skipped in outcome.get("skipped_signals") or ():
            tally.skipped_signals[_skip_reason(skipped)] += 1
        sent = list(outcome.get("sent") or ())
        tally.sent += sent
        for status in wait(sent).values():
            tally.statuses[status] += 1
        now = at
        if sent:
            now = at + FILL_AFTER
            clock.move_clock(now)
        if manage is not None:
            closes = _manage(manage, now, tally)
            for status in wait(closes).values():
                tally.statuses[status] += 1
            if closes:
                clock.move_clock(now + FILL_AFTER)
        if n % RECONCILE_EVERY == 0:
            tally.fills_recorded += reconcile_once()
        last = at
        yield at, tally
    if last is not None:
        clock.move_clock(after_close(last))
        tally.fills_recorded += reconcile_once()
        if venue_events is not None:
            tally.venue_events += venue_events()


def trade_day(
    clock: Clock, app: Celery, records: Records, steps: Iterable[datetime], tally: DayTally
) -> Iterator[tuple[datetime, DayTally]]:
    """``run_day`` with the tasks sent as beat sends them (the scan, manage_positions,
    reconcile_orders, record_venue_events) and the waits on ``records``."""
    return run_day(
        clock,
        task_scan(app),
        lambda: reconcile(app),
        lambda ids: wait_terminal(records, ids),
        steps,
        tally,
        task_manage(app),
        lambda: record_venue_events(app),
    )


def _manage(manage: Manage, at: datetime, tally: DayTally) -> list[str]:
    """Run the minute's exits; the closes it sent (their recommendation ids)."""
    outcome = manage(at)
    closes = []
    for exit_ in outcome.get("exits") or ():
        if exit_.get("sent"):
            tally.exits[str(exit_.get("rule"))] += 1
            closes.append(str(exit_["recommendation_id"]))
    return closes


def _skip_reason(skipped: Any) -> str:
    if isinstance(skipped, dict):
        return str(skipped.get("reason") or skipped.get("status_reason") or skipped)
    return str(skipped)
