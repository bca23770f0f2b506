"""The stuck sweep: what it re-drives, when, how often, and who sends it."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from pydantic import ValidationError

from strikeflow.config import Settings
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.services.recovery import sweep_stuck
from strikeflow.workers import startup
from strikeflow.workers.beat import SWEEP_EVERY_BOUNDS_S, beat_schedule
from strikeflow.workers.config import ROUTES
from tests.unit.factories import NOW
from tests.unit.test_recovery import Pending, world

BOUND_S = 180.0


def test_a_recommendation_stuck_past_the_bound_is_redriven_to_its_end():
    ctx, store, _broker, chains = world("lost-1", "lost-2")
    later = NOW + timedelta(seconds=BOUND_S + 1)

    report = sweep_stuck(ctx, Pending(store), chains, stuck_after_s=BOUND_S, now=later)

    assert report.redriven == ["lost-1", "lost-2"]
    assert {store.recs[r].status for r in chains.sent} == {RecommendationStatus.EXECUTED}


def test_one_within_the_bound_is_left_to_its_chain():
    ctx, store, _broker, chains = world("in-flight")
    sooner = NOW + timedelta(seconds=BOUND_S - 1)

    report = sweep_stuck(ctx, Pending(store), chains, stuck_after_s=BOUND_S, now=sooner)

    assert report.in_flight == 1
    assert report.redriven == chains.sent == []


@pytest.mark.parametrize("status", [RecommendationStatus.PENDING, RecommendationStatus.DISPATCHED])
def test_a_redriven_recommendation_is_marked_after_its_send_so_its_age_restarts(status):
    """A chain lost again (the broker took it, nothing ran it) leaves the recommendation
    dispatched with a fresh mark: the next sweep waits another bound for it."""
    ctx, store, _broker, _chains = world("lost", status=status)
    events: list = []
    writes = store.status_writes

    def send(rid: str) -> None:
        events.append(("sent", store.recs[rid].status))

    later = NOW + timedelta(seconds=BOUND_S + 1)
    report = sweep_stuck(ctx, Pending(store), send, stuck_after_s=BOUND_S, now=later)

    assert report.redriven == ["lost"]
    assert events == [("sent", status)]
    assert store.status_writes == writes + 1
    assert store.recs["lost"].status is RecommendationStatus.DISPATCHED


def test_a_terminal_recommendation_is_never_sent():
    ctx, store, _broker, chains = world("done", status=RecommendationStatus.EXECUTED)
    later = NOW + timedelta(days=1)
    report = sweep_stuck(ctx, Pending(store), chains, stuck_after_s=BOUND_S, now=later)
    assert report.redriven == chains.sent == []


def test_the_bound_is_a_setting_of_a_few_minutes():
    assert Settings().stuck_after_s == BOUND_S
    assert Settings(stuck_after_s=5).stuck_after_s == 5
    for bad in (0, -1, 3601):
        with pytest.raises(ValidationError):
            Settings(stuck_after_s=bad)


@pytest.mark.parametrize(
    ("stuck_after_s", "every_s"), [(180.0, 60.0), (600.0, 60.0), (30.0, 10.0), (3.0, 5.0)]
)
def test_beat_sweeps_every_third_of_the_bound_within_its_limits(stuck_after_s, every_s):
    entry = beat_schedule(Settings(stuck_after_s=stuck_after_s))["sweep-stuck"]
    assert entry["task"] == "strikeflow.sweep_stuck"
    assert entry["schedule"] == timedelta(seconds=every_s)
    assert SWEEP_EVERY_BOUNDS_S[0] <= every_s <= SWEEP_EVERY_BOUNDS_S[1]
    assert entry["options"]["expires"] == every_s  # a missed sweep is not queued up


def test_the_sweep_runs_on_the_persistence_queue():
    assert ROUTES[startup.SWEEP_STUCK] == {"queue": "persistence"}


class Sender:
    """What worker_ready hands the handler: something with an app that sends tasks."""

    def __init__(self, fails: bool = False) -> None:
        self.app, self.sent, self.fails = self, [], fails

    def send_task(self, name: str, **options) -> None:
        if self.fails:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        self.sent.append((name, options))


def test_a_worker_at_start_sends_one_sweep_that_expires():
    sender = Sender()
    startup.sweep_on_start(sender=sender)
    assert sender.sent == [("strikeflow.sweep_stuck", {"expires": 60.0})]


def test_a_worker_whose_broker_refuses_the_sweep_still_starts(caplog, monkeypatch):
    # Another test in this process may have set logging up (Celery's, a dictConfig that
    # disables existing loggers): the module's logger is made to reach caplog again.
    monkeypatch.setattr(startup.log, "disabled", False)
    monkeypatch.setattr(startup.log, "propagate", True)
    with caplog.at_level(logging.WARNING, logger=startup.log.name):
        startup.sweep_on_start(sender=Sender(fails=True))
    assert "could not send the stuck sweep at start" in caplog.text
