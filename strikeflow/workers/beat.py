"""Beat: what it sends and when, and the scheduler that makes a second beat harmless.

- Scans run on crontabs in America/New_York (the app's timezone), weekdays, inside the
  regular session: 09:31–09:59 and 10:00–15:59, every ``scan_every_min`` minutes. 09:31
  is the first minute with a completed bar; 16:00 is the close, when the venue says
  closed. Crontab knows no holidays: the scan asks the market clock itself.
- ``STRIKEFLOW_SCAN_EVERY_S`` replaces the crontabs with an interval in wall seconds:
  simulated time runs faster than the wall clock, and the scan then scans the runtime's
  now (the emulator's clock with STRIKEFLOW_CLOCK=market) whatever the wall time is.
- ``reconcile_orders`` runs every ``reconcile_every_s`` seconds, all day: fills reported
  after the close are fills too.
- ``recover`` with ``redrive=False`` runs every ``ADOPT_EVERY_S``: an order the venue
  accepted whose worker died before the execution row was written is found by its
  client_order_id and recorded (recommendations idle for ``ADOPT_MIN_AGE_S``).
- ``cancel_stale_entries`` runs every ``STALE_ENTRIES_EVERY_S``: an entry resting
  unfilled longer than ``entry_max_rest_s`` (a 0DTE one, past the day-trade cut-off)
  is canceled at the venue, and its recommendation says why.
- ``sweep_stuck`` runs every third of ``stuck_after_s`` (5-60 s): a recommendation
  pending or dispatched that long after its last send lost its chain, and is re-driven.
- ``check_positions`` runs every ``POSITION_CHECK_EVERY_S``: the position book against
  the venue's positions, in the session only (the task asks the market clock); each
  difference is recorded (``position_differences``) and logged at WARNING.
- ``record_venue_events`` runs every ``VENUE_EVENTS_EVERY_S``: the account's activities
  since the last one seen, recording what the venue closed (expiry, exercise with its
  delivered shares, liquidations), once per activity id.
- ``manage_positions`` runs every ``MANAGE_POSITIONS_EVERY_S``: the exits of what is
  held, decided from fresh quotes in the session only (the task asks the market clock),
  each sent as a closing chain.
- Every entry expires: a message that waited longer than its period is dropped instead
  of piling up behind a stopped worker (the next one comes anyway).

The scheduler is celery-redbeat: the schedule lives in Redis (the app's own db) and a
beat holds a lock there while it runs, so a second beat waits instead of sending every
task twice; the lock's timeout is lowered so a standby takes over within seconds. The
scans stay idempotent anyway (their minute's claim).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import crontab

from strikeflow.config import Settings, is_redis_url

__all__ = [
    "BEAT_MAX_LOOP_INTERVAL_S",
    "REDBEAT_KEY_PREFIX",
    "REDBEAT_LOCK_KEY",
    "REDBEAT_LOCK_TIMEOUT_S",
    "REDBEAT_SCHEDULER",
    "beat_config",
    "beat_schedule",
]

REDBEAT_SCHEDULER = "strikeflow.workers.beat_lock:PatientRedBeatScheduler"
REDBEAT_KEY_PREFIX = "strikeflow:redbeat:"
REDBEAT_LOCK_KEY = REDBEAT_KEY_PREFIX + "lock"  # redbeat's own default would be "...::lock"
# Beat wakes at least this often, refreshing its lock each time; a lock not refreshed
# for REDBEAT_LOCK_TIMEOUT_S (a dead beat) passes to the next beat that asks for it.
BEAT_MAX_LOOP_INTERVAL_S = 5
REDBEAT_LOCK_TIMEOUT_S = 30
WEEKDAYS = "mon-fri"
CRONTAB_EXPIRES_S = 50  # a minute's scan that waited most of the minute is not worth running
MIN_INTERVAL_EXPIRES_S = 10.0
ADOPT_EVERY_S = 30.0
ADOPT_MIN_AGE_S = 60.0
STALE_ENTRIES_EVERY_S = 60.0
SWEEP_EVERY_BOUNDS_S = (5.0, 60.0)
POSITION_CHECK_EVERY_S = 60.0
VENUE_EVENTS_EVERY_S = 60.0
MANAGE_POSITIONS_EVERY_S = 60.0


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat's entries from the settings (see the module's docstring)."""
    entries: dict[str, dict[str, Any]] = {}
    if settings.scan_every_s is not None:
        every = settings.scan_every_s
        entries["scan"] = {
            "task": "strikeflow.scan",
            "schedule": timedelta(seconds=every),
            "options": {"expires": max(MIN_INTERVAL_EXPIRES_S, 5 * every)},
        }
    else:
        step = settings.scan_every_min
        for name, minute, hour in (
            ("scan-opening", f"31-59/{step}", "9"),
            ("scan-session", f"*/{step}", "10-15"),
        ):
            entries[name] = {
                "task": "strikeflow.scan",
                "schedule": crontab(minute=minute, hour=hour, day_of_week=WEEKDAYS),
                "options": {"expires": CRONTAB_EXPIRES_S},
            }
    reconcile = settings.reconcile_every_s
    entries["reconcile-orders"] = {
        "task": "strikeflow.reconcile_orders",
        "schedule": timedelta(seconds=reconcile),
        "options": {"expires": max(MIN_INTERVAL_EXPIRES_S, 2 * reconcile)},
    }
    entries["adopt-orphan-orders"] = {
        "task": "strikeflow.recover",
        "schedule": timedelta(seconds=ADOPT_EVERY_S),
        "kwargs": {"min_age_s": ADOPT_MIN_AGE_S, "redrive": False},
        "options": {"expires": ADOPT_EVERY_S},
    }
    entries["cancel-stale-entries"] = {
        "task": "strikeflow.cancel_stale_entries",
        "schedule": timedelta(seconds=STALE_ENTRIES_EVERY_S),
        "options": {"expires": STALE_ENTRIES_EVERY_S},
    }
    low, high = SWEEP_EVERY_BOUNDS_S
    sweep_every = min(high, max(low, settings.stuck_after_s / 3))
    entries["sweep-stuck"] = {
        "task": "strikeflow.sweep_stuck",
        "schedule": timedelta(seconds=sweep_every),
        "options": {"expires": sweep_every},
    }
    entries["check-positions"] = {
        "task": "strikeflow.check_positions",
        "schedule": timedelta(seconds=POSITION_CHECK_EVERY_S),
        "options": {"expires": POSITION_CHECK_EVERY_S},
    }
    entries["record-venue-events"] = {
        "task": "strikeflow.record_venue_events",
        "schedule": timedelta(seconds=VENUE_EVENTS_EVERY_S),
        "options": {"expires": VENUE_EVENTS_EVERY_S},
    }
    entries["manage-positions"] = {
        "task": "strikeflow.manage_positions",
        "schedule": timedelta(seconds=MANAGE_POSITIONS_EVERY_S),
        "options": {"expires": MANAGE_POSITIONS_EVERY_S},
    }
    return entries


def beat_config(settings: Settings) -> dict[str, Any]:
    """The beat part of the Celery config: the schedule, and redbeat on the app's Redis.

    With STRIKEFLOW_REDIS_URL=memory:// (one process, no Redis) there is nothing for
    redbeat to lock; Celery's own scheduler is left in place.
    """
    conf: dict[str, Any] = {
        "beat_schedule": beat_schedule(settings),
        "beat_max_loop_interval": BEAT_MAX_LOOP_INTERVAL_S,
    }
    if is_redis_url(settings.redis_url):
        conf.update(
            beat_scheduler=REDBEAT_SCHEDULER,
            redbeat_redis_url=settings.redis_url,
            redbeat_key_prefix=REDBEAT_KEY_PREFIX,
            redbeat_lock_key=REDBEAT_LOCK_KEY,
            redbeat_lock_timeout=REDBEAT_LOCK_TIMEOUT_S,
        )
    return conf
