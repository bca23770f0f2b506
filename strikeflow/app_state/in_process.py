"""The app's own state kept inside one process (``STRIKEFLOW_REDIS_URL=memory://...``):
the Redis adapters' interfaces over a flag, a dict of claims and a dict of stamps, each
shared by every thread of the process (the demo's worker threads and its command line).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from strikeflow.services.kill_switch import KillSwitchState


class InProcessKillSwitch:
    """The kill switch of a single process: RedisKillSwitch's interface over a flag."""

    def __init__(self) -> None:
        self._state = KillSwitchState(False)
        self._lock = threading.Lock()

    def turn_on(self, reason: str = "manual", now: datetime | None = None) -> None:
        since = (now or datetime.now(UTC)).isoformat()
        with self._lock:
            self._state = KillSwitchState(True, reason, since)

    def turn_off(self) -> None:
        with self._lock:
            self._state = KillSwitchState(False)

    def state(self) -> KillSwitchState:
        with self._lock:
            return self._state

    def is_on(self) -> bool:
        return self.state().on


class InProcessScanLock:
    """``ScanLock`` for one process: claimed keys with their expiry on ``monotonic``."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def claim(self, key: str, ttl_s: float) -> bool:
        tick = self._monotonic()
        with self._lock:
            self._held = {k: until for k, until in self._held.items() if until > tick}
            if key in self._held:
                return False
            self._held[key] = tick + ttl_s
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)


class InProcessCooldown:
    """``SignalCooldown`` for one process."""

    def __init__(self) -> None:
        self._stamps: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def last_recorded(self, keys: Sequence[str]) -> dict[str, datetime]:
        with self._lock:
            return {k: self._stamps[k] for k in keys if k in self._stamps}

    def record(self, stamps: Mapping[str, datetime]) -> None:
        with self._lock:
            self._stamps.update(stamps)


class InProcessSharedCache:
    """``SharedCache`` for one process: a dict of values with their expiry, bounded."""

    def __init__(
        self, max_entries: int = 4096, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._values: dict[str, tuple[float, str]] = {}
        self._max, self._monotonic = max_entries, monotonic
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            held = self._values.get(key)
            if held is None or held[0] <= self._monotonic():
                return None
            return held[1]

    def put(self, key: str, value: str, ttl_s: float) -> None:
        self.put_many({key: value}, ttl_s)

    def put_many(self, values: Mapping[str, str], ttl_s: float) -> None:
        until = self._monotonic() + ttl_s
        with self._lock:
            for key, value in values.items():
                self._values.pop(key, None)  # re-inserted last: the oldest go first
                self._values[key] = (until, value)
            while len(self._values) > self._max:
                del self._values[next(iter(self._values))]


class InProcessParkedSteps:
    """``ParkedSteps`` for one process: a list kept in (due, payload) order."""

    def __init__(self) -> None:
        self._parked: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()

    def park(self, due: datetime, payload: str) -> None:
        with self._lock:
            bisect.insort(self._parked, (due.astimezone(UTC), payload))

    def take_due(self, at: datetime) -> tuple[datetime, str] | None:
        with self._lock:
            if not self._parked or self._parked[0][0] > at:
                return None
            return self._parked.pop(0)
