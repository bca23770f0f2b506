"""Beat's schedule from the settings: scans on New York crontabs inside the session on
weekdays (or an interval for simulated time), reconcile_orders every few seconds, and
redbeat as the scheduler, with its lock on the app's Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery
from celery.schedules import crontab
from celery.utils.imports import symbol_by_name
from redbeat import RedBeatScheduler

from strikeflow.config import Settings
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.workers import beat
from strikeflow.workers.beat import beat_schedule
from strikeflow.workers.config import celery_config

MONDAY = datetime(2026, 11, 16, tzinfo=NEW_YORK)


def app_for(settings: Settings) -> Celery:
    app = Celery("strikeflow-beat-test", set_as_current=False)
    app.config_from_object(celery_config(settings))
    return app


def due_minutes(app: Celery, start: datetime, minutes: int) -> set[datetime]:
    """The New York minutes (of ``minutes`` from ``start``) at which some scan entry is due,
    asked the way beat asks: is_due(last run a minute ago) at each minute."""
    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == "strikeflow.scan"]
    schedules = [crontab(**_fields(e["schedule"]), app=app) for e in entries]
    due = set()
    for k in range(minutes):
        at = (start + timedelta(minutes=k)).astimezone(UTC)
        for schedule in schedules:
            schedule.nowfun = lambda at=at: at
            if schedule.is_due(at - timedelta(minutes=1)).is_due:
                due.add(at.astimezone(NEW_YORK))
    return due


def _fields(schedule: crontab) -> dict[str, str]:
    return {
        "minute": schedule._orig_minute,
        "hour": schedule._orig_hour,
        "day_of_week": schedule._orig_day_of_week,
    }


def session_minutes(day: datetime, step: int = 1) -> set[datetime]:
    first = day.replace(hour=9, minute=31)
    every = [first + timedelta(minutes=k) for k in range(389)]  # 09:31 .. 15:59
    return {m for m in every if m.hour > 9 and m.minute % step == 0} | {
        m for m in every if m.hour == 9 and (m.minute - 31) % step == 0
    }


def crontab_minutes(app: Celery, day: datetime) -> set[datetime]:
    """The New York minutes of ``day`` the scan crontabs name (their field sets)."""
    entries = [e["schedule"] for e in app.conf.beat_schedule.values()]
    weekday = (day.weekday() + 1) % 7  # crontab counts from Sunday
    return {
        day.replace(hour=h, minute=m)
        for c in entries
        if isinstance(c, crontab) and weekday in c.day_of_week
        for h in c.hour
        for m in c.minute
    }


def test_scans_run_every_minute_inside_the_new_york_session_on_weekdays_only():
    app = app_for(Settings())
    assert app.conf.timezone == "America/New_York"
    assert app.conf.enable_utc is True
    for d in range(7):
        day = MONDAY + timedelta(days=d)
        expected = session_minutes(day) if d < 5 else set()
        assert crontab_minutes(app, day) == expected, day.strftime("%a")
    monday = due_minutes(app, MONDAY, 24 * 60)  # as beat asks, in the app's timezone
    assert monday == session_minutes(MONDAY)
    assert min(monday).strftime("%H:%M") == "09:31"  # the first completed bar
    assert max(monday).strftime("%H:%M") == "15:59"
    assert due_minutes(app, MONDAY + timedelta(days=5), 24 * 60) == set()  # Saturday


def test_the_session_follows_new_york_across_daylight_saving():
    app = app_for(Settings())
    summer = datetime(2026, 7, 6, tzinfo=NEW_YORK)  # EDT: 09:31 New York is 13:31 UTC
    due = due_minutes(app, summer, 24 * 60)
    assert min(due).astimezone(UTC).strftime("%H:%M") == "13:31"
    assert due == session_minutes(summer)


def test_a_coarser_step_keeps_inside_the_session():
    app = app_for(Settings(scan_every_min=5))
    due = crontab_minutes(app, MONDAY)
    assert due == session_minutes(MONDAY, 5)
    assert min(due).strftime("%H:%M") == "09:31"


def test_reconcile_orders_runs_every_few_seconds_all_day():
    entry = beat_schedule(Settings())["reconcile-orders"]
    assert entry["task"] == "strikeflow.reconcile_orders"
    assert entry["schedule"] == timedelta(seconds=5)
    assert beat_schedule(Settings(reconcile_every_s=2))["reconcile-orders"]["schedule"] == (
        timedelta(seconds=2)
    )


def test_scan_every_s_replaces_the_crontabs_with_an_interval():
    entries = beat_schedule(Settings(scan_every_s=0.5))
    scans = [e for e in entries.values() if e["task"] == "strikeflow.scan"]
    assert len(scans) == 1
    assert scans[0]["schedule"] == timedelta(seconds=0.5)
    assert not any(isinstance(e["schedule"], crontab) for e in entries.values())
    assert scans[0].get("args", ()) == ()  # the scan takes the runtime's now


def test_every_entry_expires_so_a_stopped_worker_finds_no_pile():
    for settings in (Settings(), Settings(scan_every_s=2)):
        for name, entry in beat_schedule(settings).items():
            expires = entry["options"]["expires"]
            assert 0 < expires < 600, name  # far below the visibility timeout
    crontabs = beat_schedule(Settings())
    assert crontabs["scan-session"]["options"]["expires"] < 60  # inside its minute


def test_the_app_config_selects_redbeat_on_the_app_s_redis():
    settings = Settings(redis_url="redis://127.0.0.1:6379/7")
    conf = celery_config(settings)
    assert conf["beat_scheduler"] == "strikeflow.workers.beat_lock:PatientRedBeatScheduler"
    scheduler = symbol_by_name(conf["beat_scheduler"])
    assert scheduler.__name__ == "PatientRedBeatScheduler"
    assert issubclass(scheduler, RedBeatScheduler)  # redbeat's, riding out a Redis outage
    assert conf["redbeat_redis_url"] == "redis://127.0.0.1:6379/7"
    assert conf["redbeat_key_prefix"] == beat.REDBEAT_KEY_PREFIX
    assert conf["redbeat_lock_key"] == "strikeflow:redbeat:lock"
    # lowered from redbeat's default (5 x a 300 s loop): a standby takes over in seconds
    assert conf["beat_max_loop_interval"] < conf["redbeat_lock_timeout"] <= 60


def test_the_real_app_uses_redbeat(monkeypatch):
    from strikeflow.workers.app import app

    assert app.conf.beat_scheduler == "strikeflow.workers.beat_lock:PatientRedBeatScheduler"
    assert "scan-session" in app.conf.beat_schedule


@pytest.mark.parametrize("url", ["memory://demo"])
def test_without_redis_there_is_no_redbeat(url):
    conf = celery_config(Settings(redis_url=url))
    assert "beat_scheduler" not in conf
    assert "redbeat_redis_url" not in conf
    assert conf["beat_schedule"]


def test_orders_without_a_row_are_adopted_on_beat_without_redriving():
    entry = beat_schedule(Settings())["adopt-orphan-orders"]
    assert entry["task"] == "strikeflow.recover"
    assert entry["kwargs"] == {"min_age_s": 60.0, "redrive": False}
    assert entry["schedule"] == timedelta(seconds=30)


def test_beat_starts_though_redis_drops_as_it_stores_its_schedule():
    """Redis restarting while beat builds its scheduler: the entries are left for the
    next tick that holds the lock, and beat goes on instead of ending."""
    from celery import Celery

    from strikeflow.workers.beat_lock import PatientRedBeatScheduler

    app = Celery("beat-unreachable", set_as_current=False)
    app.conf.redbeat_redis_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app.conf.beat_schedule = {"sweep": {"task": "strikeflow.sweep_stuck", "schedule": 60.0}}
    scheduler = PatientRedBeatScheduler(app=app)
    assert scheduler._stored is False  # to store again once Redis answers
