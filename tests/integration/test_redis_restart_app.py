"""The worker app of test_redis_restart (no tests here): the app's own Celery settings
on the test's redis-server, with one task that works for a while, as a chain step
waiting on the venue does, and two changes read from the environment:

- ``RESTART_CANCEL_ON_LOSS`` (``1``/``0``):
  ``worker_cancel_long_running_tasks_on_connection_loss``, the setting under test;
- ``RESTART_VISIBILITY_TIMEOUT_S``: the broker's visibility timeout, lowered so a
  message left unacknowledged comes back in seconds.

Each task adds its number to the set ``started`` and the list ``runs`` when it begins and
to ``done`` when it ends, on the app db of the same redis-server (a client of its own,
per call).
"""

from __future__ import annotations

import os
import threading

import redis
from celery import Celery

from strikeflow.config import Settings
from strikeflow.workers.config import celery_config

app = Celery("strikeflow-restart-probe", set_as_current=True)
app.add_defaults(lambda: probe_config())


def probe_config() -> dict:
    conf = celery_config(Settings())
    visibility = float(os.environ.get("RESTART_VISIBILITY_TIMEOUT_S", "600"))
    transport = {
        "visibility_timeout": visibility,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    conf.update(
        broker_transport_options=transport,
        result_backend_transport_options=dict(transport),
        worker_cancel_long_running_tasks_on_connection_loss=(
            os.environ.get("RESTART_CANCEL_ON_LOSS") == "1"
        ),
        task_routes={},
        task_default_queue="probe",
        task_queues=None,
        beat_schedule={},
    )
    return conf


def _app_db() -> redis.Redis:
    return redis.Redis.from_url(os.environ["STRIKEFLOW_REDIS_URL"], socket_timeout=5)


@app.task(name="probe.work", acks_late=True, ignore_result=True)
def work(number: int, seconds: float) -> None:
    """Work for ``seconds`` (the workload, not a synchronisation), recording the start
    and the end; the end is written with retries, so a Redis still restarting delays it
    instead of losing it."""
    client = _app_db()
    try:
        client.sadd("started", number)
        client.rpush("runs", number)
        threading.Event().wait(seconds)
        for _ in range(200):
            try:
                client.sadd("done", number)
                return
            except redis.ConnectionError:
                threading.Event().wait(0.1)
    finally:
        client.close()
