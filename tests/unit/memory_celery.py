"""Celery on the memory:// transport for the unit tests: the app's configuration with a
fast poll, a real worker in a thread that also stops fast, the current app for tests
that send but need no worker (the CLI, the entry task's own code), and the rows they
may have stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.utils.timer2 import Timer
from celery.worker import state
from celery.worker.consumer import Consumer
from sqlalchemy import func, select

from strikeflow.db.engine import engine_for
from strikeflow.db.tables import recommendations
from strikeflow.workers.config import QUEUES, celery_config

# kombu's memory transport is polled: with every queue empty a worker sleeps this long
# before it looks again (kombu's default is 1 s, which a worker in a test pays on every
# hop of a chain and again when it shuts down).
POLL_S = 0.01


class _PromptCondition(threading.Condition):
    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(POLL_S if timeout is None else min(timeout, POLL_S))


class PromptTimer(Timer):
    """Celery's thread timer (a retry's countdown waits in it) looking every POLL_S: idle,
    it waits up to 1 s at a time, and a worker's stop waits for that wait to end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.not_empty = _PromptCondition(self.mutex)


def memory_config(**overrides: object) -> dict:
    """The app's own configuration on memory://, polled every POLL_S (its timer too);
    ``overrides`` last."""
    conf = celery_config()
    transport = {**conf.get("broker_transport_options", {}), "polling_interval": POLL_S}
    conf.update(
        broker_url="memory://",
        broker_transport_options=transport,
        worker_timer=f"{__name__}:PromptTimer",
        worker_timer_precision=POLL_S,
    )
    conf.update(overrides)
    return conf


@contextmanager
def memory_worker(app: Celery) -> Iterator[Consumer]:
    """A solo worker on every queue, in a thread, for the block (no eager mode).

    On memory:// the worker's loop looks for a shutdown only between two waits for a
    message of up to 2 s each (celery.worker.loops), so a plain stop idles for 4 s. The
    stop is asked for first, then two pings wake both waits; a ping left unread is
    purged, as the memory transport outlives the worker."""
    app.loader.import_module("celery.contrib.testing.tasks")  # celery.ping
    woken = next(iter(QUEUES))
    with start_worker(app, pool="solo", queues=list(QUEUES), perform_ping_check=False) as w:
        yield w
        state.should_terminate = 0
        for _ in range(2):
            app.send_task("celery.ping", queue=woken, ignore_result=True)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(woken)


@contextmanager
def memory_current_app(name: str) -> Iterator[Celery]:
    """``name`` as the current app while the block runs; its queues are purged after, as
    the memory transport is shared by the whole process."""
    from celery import current_app

    previous = current_app._get_current_object()
    app = Celery(name, set_as_current=False)
    app.config_from_object(memory_config())
    app.set_current()
    try:
        yield app
    finally:
        previous.set_current()
        with app.connection_for_write() as conn:
            for queue in QUEUES:
                conn.default_channel.queue_purge(queue)


def stored_recommendations(url: str) -> int:
    with engine_for(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(recommendations)).scalar_one()
