"""The embedded stack's result backend: Celery's in-process cache backend (what
``cache+memory://`` names), whose waits wake when a result is stored.

The embedded stack's driver (``strikeflow demo``, ``strikeflow backtest``) sends each
task as beat would and waits for its result, twice or more a simulated minute, in the
process whose threads run the worker. Celery's own wait polls the backend every
``interval``: each poll takes the interpreter from the worker threads, and a result is
seen half an interval after it landed, on average. Here storing a result wakes the
waiters, and a wait looks again only then (or each ``RELOOK_S``, whatever ``interval``
the caller gave).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import states
from celery.backends.cache import CacheBackend
from celery.exceptions import TimeoutError as CeleryTimeout

__all__ = ["EMBEDDED_RESULTS", "EmbeddedResults"]

EMBEDDED_RESULTS = f"{__name__}:EmbeddedResults"
RELOOK_S = 1.0


class EmbeddedResults(CacheBackend):
    # Shared by every instance: Celery keeps a backend per thread, and the results
    # themselves live in the cache module's one in-process store.
    _stored = threading.Condition()

    def __init__(self, app: Any, **kwargs: Any) -> None:
        kwargs.pop("url", None)
        super().__init__(app, backend="memory", **kwargs)

    def set(self, key: Any, value: Any) -> Any:
        with self._stored:
            stored = super().set(key, value)
            self._stored.notify_all()
        return stored

    def wait_for(
        self,
        task_id: str,
        timeout: float | None = None,
        interval: float = 0.5,
        no_ack: bool = True,
        on_interval: Any = None,
    ) -> dict[str, Any]:
        """Celery's ``wait_for``, woken by ``set``: a result stored between the look and
        the wait cannot be missed, as both hold the same lock. ``interval`` is Celery's
        polling period, which this wait does not need."""
        self._ensure_not_eager()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._stored:
            while True:
                meta = self.get_task_meta(task_id)
                if meta["status"] in states.READY_STATES:
                    return meta
                if on_interval:
                    on_interval()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise CeleryTimeout("The operation timed out.")
                relook = RELOOK_S if left is None else min(RELOOK_S, left)
                self._stored.wait(relook)
