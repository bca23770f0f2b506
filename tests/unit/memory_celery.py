"""The current Celery app on the memory:// transport, for tests that send but need no
worker (the CLI, the entry task's own code), and the rows they may have stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from sqlalchemy import func, select

from strikeflow.db.engine import engine_for
from strikeflow.db.tables import recommendations
from strikeflow.workers.config import QUEUES, celery_config


@contextmanager
def memory_current_app(name: str) -> Iterator[Celery]:
    """``name`` as the current app while the block runs; its queues are purged after, as
    the memory transport is shared by the whole process."""
    from celery import current_app

    previous = current_app._get_current_object()
    app = Celery(name, set_as_current=False)
    app.config_from_object({**celery_config(), "broker_url": "memory://"})
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
