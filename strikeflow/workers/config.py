"""All Celery configuration in one place: connections, queues, routes, reliability, limits.

Built by ``celery_config()`` when the app first needs its config (never at import), from
``Settings`` (STRIKEFLOW_BROKER_URL, STRIKEFLOW_RESULT_BACKEND; beat's part: beat.py).
The numbers follow what Celery on Redis guarantees (docs/operations.md, Reliability):
delivery is at least once, so the settings only bound the damage of a redelivery (no
requeue loops, no countdown outliving the visibility timeout); correctness comes from
client_order_id and database unique constraints.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from strikeflow.config import Settings
from strikeflow.workers import broker_reconnect, signing
from strikeflow.workers.beat import beat_config

# Queues and what runs on each. A worker takes any set with -Q.
QUEUES: dict[str, tuple[str, ...]] = {
    "marketdata": ("strikeflow.fetch_chain", "strikeflow.snapshot_price", "strikeflow.quote_close"),
    "dispatch": (
        "strikeflow.dispatch",
        "strikeflow.select_contract",
        "strikeflow.size_position",
        "strikeflow.close",
        "strikeflow.size_close",
        "strikeflow.manage_positions",
    ),
    "orders": ("strikeflow.submit_order", "strikeflow.work_order"),
    "persistence": (
        "strikeflow.persist_execution",
        "strikeflow.record_failure",
        "strikeflow.reconcile_orders",
        "strikeflow.cancel_stale_entries",
        "strikeflow.recover",
        "strikeflow.sweep_stuck",
        "strikeflow.check_positions",
        "strikeflow.record_venue_events",
    ),
    "signals": ("strikeflow.scan",),
}
DEFAULT_QUEUE = "dispatch"
ROUTES = {task: {"queue": queue} for queue, tasks in QUEUES.items() for task in tasks}

# Redis requeues any unacked message older than this, whether its worker lives or not,
# and a killed worker's messages come back only after it: 10 minutes bounds how stale a
# redelivered order can be. Every countdown and time limit must stay far below it.
VISIBILITY_TIMEOUT_S = 600

# One Alpaca call is at most connect (3.05 s) + read (10 s); a step makes a few of them
# (a chain of several pages; lookup-before-submit then submit). Soft limit first, so the
# task can fail with a message; the hard limit kills a child that ignored it.
HTTP_CALL_BUDGET_S = 3.05 + 10.0
SOFT_TIME_LIMIT_S = 60
TIME_LIMIT_S = 90
ORDER_SOFT_TIME_LIMIT_S = 45  # lookup + submit + a slow answer, with room to spare
ORDER_TIME_LIMIT_S = 60

# Prefetch: 4 per process for the cheap queues; 1 on any worker that takes orders, so an
# order never waits in one worker's buffer behind other work (see startup.celeryd_init).
PREFETCH_MULTIPLIER = 4
ORDERS_PREFETCH_MULTIPLIER = 1

RESULT_EXPIRES_S = 24 * 3600
CANCEL_ON_CONNECTION_LOSS = False

LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]"
    " rec=%(recommendation_id)s coid=%(client_order_id)s: %(message)s"
)


def celery_config(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    broker_reconnect.install()  # a Redis restart must not end the worker (see there)
    transport = {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "broker_transport_options": transport,
        "result_backend_transport_options": dict(transport),
        "broker_connection_retry_on_startup": True,
        # JSON only: nothing executable travels, and any language can read a message.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_queues": tuple(Queue(name, routing_key=name) for name in QUEUES),
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": ROUTES,
        # Ack after the task ran: a worker that dies mid-task leaves its message to be
        # redelivered after the visibility timeout instead of losing it.
        "task_acks_late": True,
        # ...but a child killed by the OS is not requeued: Redis has no delivery limit,
        # so a task that kills its worker would loop forever (orders above all).
        "task_reject_on_worker_lost": False,
        # A step running when the broker connection drops is left to finish: its late
        # ack meets the dead channel (broker_reconnect keeps that from raising), Redis
        # keeps the message in ``unacked`` and hands it back after the visibility
        # timeout, and the repeat is harmless (client_order_id). Cancelling (True) kills
        # the step, an order submit perhaps mid-call, and saves nothing: its message
        # waits for the same timeout (figures: docs/operations.md, Reliability).
        "worker_cancel_long_running_tasks_on_connection_loss": CANCEL_ON_CONNECTION_LOSS,
        "worker_prefetch_multiplier": PREFETCH_MULTIPLIER,
        "task_soft_time_limit": SOFT_TIME_LIMIT_S,
        "task_time_limit": TIME_LIMIT_S,
        "task_annotations": {
            "strikeflow.submit_order": {
                "soft_time_limit": ORDER_SOFT_TIME_LIMIT_S,
                "time_limit": ORDER_TIME_LIMIT_S,
                "reject_on_worker_lost": False,
                "acks_late": True,
            },
            # Every retry is budgeted in time (tasks.budgeted): these are read by the
            # tasks that retry (a BudgetedTask), and ignored by the rest.
            "*": retry_budget_annotations(settings),
        },
        "result_expires": RESULT_EXPIRES_S,
        # Events on, so Flower sees every task from sent to done.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "timezone": "America/New_York",
        "enable_utc": True,
        "worker_log_format": LOG_FORMAT,
        "worker_task_log_format": TASK_LOG_FORMAT,
        # Beat: market-hours scans and reconcile_orders, scheduled by redbeat (beat.py).
        **beat_config(settings),
        # Signed messages when STRIKEFLOW_SIGNING_* are set (signing.py): last, as it
        # replaces the serializers above.
        **signing.celery_overrides(settings),
    }


def retry_budget_annotations(settings: Settings) -> dict[str, float]:
    """The retry budget's figures from the settings, for every task (``BudgetedTask``)."""
    return {
        "retry_deadline_s": settings.retry_deadline_s,
        "retry_floor_s": settings.retry_floor_s,
    }


def prefetch_for(queues: set[str] | frozenset[str] | None) -> int:
    """The prefetch multiplier for a worker consuming ``queues`` (None: every queue)."""
    if queues is None or "orders" in queues:
        return ORDERS_PREFETCH_MULTIPLIER
    return PREFETCH_MULTIPLIER
