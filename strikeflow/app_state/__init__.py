"""The app's own shared state (not Celery's): the kill switch, the scans' claims, the
signal cool-downs, the shared cache and the steps parked on simulated time, in Redis for
a fleet or inside one process for ``memory://``.

``app_state(url)`` picks the adapters by the URL; the composition root (bootstrap) is
its caller, so nothing else names Redis.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from strikeflow.app_state.in_process import (
    InProcessCooldown,
    InProcessKillSwitch,
    InProcessParkedSteps,
    InProcessScanLock,
    InProcessSharedCache,
)
from strikeflow.app_state.in_redis import (
    RedisCooldown,
    RedisKillSwitch,
    RedisParkedSteps,
    RedisScanLock,
    RedisSharedCache,
    redis_client,
)
from strikeflow.services.kill_switch import KillSwitchControl
from strikeflow.services.ports import ParkedSteps, ScanLock, SharedCache, SignalCooldown

# STRIKEFLOW_REDIS_URL=memory://... keeps the app's own state in this process: the demo
# and single-process runs need no Redis at all.
MEMORY_URL_PREFIX = "memory://"


@dataclass(frozen=True)
class AppState:
    """The pieces of state, from one store."""

    kill_switch: KillSwitchControl
    scan_lock: ScanLock
    cooldown: SignalCooldown
    cache: SharedCache
    parked: ParkedSteps


_MEMORY_STATES: dict[str, AppState] = {}
_LOCK = threading.Lock()


def app_state(url: str) -> AppState:
    """Redis at ``url``, or, for ``memory://...``, this process's one in-process state
    per URL (so the CLI's kill switch and a worker thread in the same process agree)."""
    if url.startswith(MEMORY_URL_PREFIX):
        with _LOCK:
            if url not in _MEMORY_STATES:
                _MEMORY_STATES[url] = AppState(
                    InProcessKillSwitch(),
                    InProcessScanLock(),
                    InProcessCooldown(),
                    InProcessSharedCache(),
                    InProcessParkedSteps(),
                )
            return _MEMORY_STATES[url]
    client = redis_client(url)
    return AppState(
        RedisKillSwitch(client),
        RedisScanLock(client),
        RedisCooldown(client),
        RedisSharedCache.from_url(url),
        RedisParkedSteps(client),
    )
