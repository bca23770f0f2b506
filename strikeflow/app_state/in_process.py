"""The app's own state kept inside one process (``STRIKEFLOW_REDIS_URL=memory://...``):
the Redis adapters' interfaces over a flag, a dict of claims and a dict of stamps, each
shared by every thread of the process (the demo's worker threads and its command line).
"""

from __future__ import annotations

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
