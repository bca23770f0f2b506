"""Beat's scheduler: redbeat, made to wait out a Redis outage instead of exiting.

redbeat refreshes its lock at the top of every tick and reads the schedule from Redis;
either raising (Redis restarting, the lock's key gone with it, or taken by a standby
while this beat could not refresh it) ends ``celery beat``, and with it the scans,
reconcile_orders and the recovery walks, until someone starts it again. Here a tick that
cannot refresh the lock stops scheduling, backs off (0.5 s doubling to the beat's
loop interval) and tries to take the lock again without blocking: the beat that gets it
schedules, any other waits as a standby. A beat schedules only in a tick that began
with a refresh of a lock it holds, and the lock outlives a tick by far
(``REDBEAT_LOCK_TIMEOUT_S`` against ``BEAT_MAX_LOOP_INTERVAL_S``): two beats never both
send. A beat that retakes the lock stores its schedule's entries again (a Redis that
restarted without persistence holds none; the runs they recorded are kept otherwise).
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatScheduler, get_redis

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
# What a tick can meet while Redis restarts or the lock moved: redis-py's connection
# errors and time-outs, and LockError (the lock not ours any more, or lost with the key).
LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.LockError)


class PatientRedBeatScheduler(RedBeatScheduler):
    """RedBeatScheduler whose ticks survive a lost lock or an unreachable Redis."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._stored = True  # setup_schedule stored the entries (it says when not)
        super().__init__(*args, **kwargs)
        self._backoff_s = 0.0
        self._holding = True  # until a tick says otherwise (beat_init took the lock)
        self._standing_by = False

    def setup_schedule(self) -> None:
        """Store the schedule's entries in Redis; unreachable (a restart as beat starts),
        leave them for the next tick that holds the lock instead of ending beat."""
        try:
            super().setup_schedule()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as lost:
            log.warning("beat: Redis unreachable storing the schedule (%s); retrying", lost)
            self._stored = False
            return
        self._stored = True

    def tick(self, min: Any = min, **kwargs: Any) -> float:
        if self.lock_key and not self._hold_lock():
            return self._wait()
        try:
            interval = super().tick(min=min, **kwargs) if not self.lock_key else self._run_due()
        except LOST as lost:
            log.warning("beat: Redis unreachable while scheduling (%s); retrying", lost)
            return self._wait()
        self._backoff_s = 0.0
        return interval

    def _hold_lock(self) -> bool:
        """Refresh the lock, or take it if free; False when it cannot be had now."""
        try:
            if not self._refresh():
                if not self._take():
                    if not self._standing_by:
                        log.info("beat: another beat holds the lock; standing by")
                    self._holding, self._standing_by = False, True
                    return False
                log.info("beat: Retook lock")
                self._stored = False
            if not self._stored:  # a Redis restarted empty lost the entries too
                self.setup_schedule()  # says in _stored whether it could
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as lost:
            if self._holding:
                log.warning("beat: Redis unreachable (%s); waiting to take the lock again", lost)
            self._holding = self._stored = False
            return False
        self._holding, self._standing_by = True, False
        return True

    def _refresh(self) -> bool:
        """Extend the lock this beat holds; False if it holds none (lost, or never had)."""
        if self.lock is None:
            return False
        try:
            self.lock.extend(int(self.lock_timeout))
        except redis.exceptions.LockError:
            return False
        return True

    def _take(self) -> bool:
        """One non-blocking attempt at the lock, with a fresh token (redbeat's extend)."""
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        if not lock.acquire(blocking=False):
            return False
        self.lock = lock
        return True

    def _run_due(self) -> float:
        """redbeat's tick after its lock refresh: send what is due, and say when to wake."""
        remaining = []
        try:
            for entry in self.schedule.values():
                next_time_to_run = self.maybe_due(entry, **self._maybe_due_kwargs)
                if next_time_to_run:
                    remaining.append(next_time_to_run)
        except RuntimeError:
            log.debug("beat: RuntimeError", exc_info=True)
        return min([*remaining, self.max_interval])

    def _wait(self) -> float:
        self._backoff_s = min(float(self.max_interval), max(FIRST_BACKOFF_S, 2 * self._backoff_s))
        return self._backoff_s

    def close(self) -> None:
        """Release the lock if this beat still holds it; an unreachable Redis lets it
        expire on its own."""
        try:
            if self.lock is not None and self.lock.owned():
                self.lock.release()
        except LOST as lost:
            log.warning("beat: could not release the lock (%s); it expires", lost)
        self.lock = None
        super().close()
