"""Per-process startup and log correlation, wired to Celery's signals by ``connect()``.

- ``worker_init``: the worker's main process imports the modules a Runtime is built
  from (alpaca-py with pandas, SQLAlchemy, psycopg2, redis) before its pool forks, so
  every pool process starts with them loaded (about 0.7 s of CPU each, and the pages
  shared) instead of importing them again; nothing is connected.
- ``worker_process_init``: each pool process builds its own Runtime (engine, Alpaca
  clients, Redis) after fork, never inheriting its parent's sockets.
- ``worker_process_shutdown``: close this process's database pools.
- ``celeryd_init``: a worker that consumes ``orders`` runs with prefetch 1.
- ``worker_ready``: the worker sends one ``strikeflow.sweep_stuck``: a worker starting
  is often a fleet coming back (a host, a broker restart), and what it lost is re-driven
  without waiting for beat (or without one at all).
- ``task_prerun``/``task_postrun``: bind the recommendation id and its client_order_id
  to every log record of the task (``%(recommendation_id)s`` in the log formats).
- ``after_setup_logger``: the worker's own lines carry them too (Celery's "Task ...
  succeeded" is logged inside the task, so a chain's every step names its ids).
"""

from __future__ import annotations

import contextvars
import importlib
import logging
from typing import Any

from celery import signals
from celery.utils.log import ColorFormatter

from strikeflow import bootstrap
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.messages import recommendation_id_in
from strikeflow.workers.config import prefetch_for

log = logging.getLogger(__name__)

SWEEP_STUCK = "strikeflow.sweep_stuck"  # tasks.recovery, by name: no task import here
SWEEP_ON_START_EXPIRES_S = 60.0

_BOUND: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
    "strikeflow_log_binding", default=("-", "-")
)
_factory_installed = False
# config.LOG_FORMAT with the bound ids, set only where the record factory is installed
# (this app's processes): another app on the same config (the benchmark's bare chain)
# keeps a format its records can fill.
LOG_FORMAT_WITH_IDS = (
    "[%(asctime)s: %(levelname)s/%(processName)s]"
    " rec=%(recommendation_id)s coid=%(client_order_id)s: %(message)s"
)


# What ``bootstrap.build_runtime`` imports, in the order it needs them: importing is all
# that happens here (tests/integration/test_worker_preload.py holds the list to build_runtime).
RUNTIME_MODULES = (
    "strikeflow.broker_adapters.alpaca.adapter",
    "strikeflow.broker_adapters.fallback",
    "strikeflow.broker_adapters.market_time",
    "strikeflow.broker_adapters.simulated",
    "strikeflow.db.dispatch_store",
    "strikeflow.db.working_store",
    "strikeflow.db.engine",
    "strikeflow.db.repositories",
    "strikeflow.app_state.in_process",
    "strikeflow.app_state.in_redis",
    "strikeflow.app_state.rate_budget",
    "sqlalchemy.dialects.postgresql.psycopg2",
    "psycopg2.extras",
    "strikeflow.services.kill_switch",
    "strikeflow.services.scan",
)


def connect() -> None:
    """Connect the handlers (idempotent: each has a dispatch_uid)."""
    signals.worker_init.connect(preload_runtime_modules, weak=False, dispatch_uid="sf-preload")
    signals.worker_process_init.connect(on_process_init, weak=False, dispatch_uid="sf-init")
    signals.worker_process_shutdown.connect(
        on_process_shutdown, weak=False, dispatch_uid="sf-shutdown"
    )
    signals.celeryd_init.connect(on_worker_init, weak=False, dispatch_uid="sf-celeryd-init")
    signals.worker_ready.connect(sweep_on_start, weak=False, dispatch_uid="sf-sweep-on-start")
    signals.task_prerun.connect(bind_task, weak=False, dispatch_uid="sf-prerun")
    signals.task_postrun.connect(unbind_task, weak=False, dispatch_uid="sf-postrun")
    signals.after_setup_logger.connect(on_setup_logger, weak=False, dispatch_uid="sf-log-ids")
    install_log_fields()


def on_setup_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    """Celery's own handlers (only those: a host process's are left alone) print the
    bound ids on every line."""
    for handler in getattr(logger, "handlers", ()):
        if isinstance(handler.formatter, ColorFormatter):
            colored = handler.formatter.use_color
            handler.setFormatter(ColorFormatter(LOG_FORMAT_WITH_IDS, use_color=colored))


def preload_runtime_modules(**_: Any) -> None:
    for name in RUNTIME_MODULES:
        importlib.import_module(name)


def on_process_init(**_: Any) -> None:
    bootstrap.init_runtime()


def on_process_shutdown(**_: Any) -> None:
    bootstrap.close_databases()


def on_worker_init(sender: Any = None, conf: Any = None, options: Any = None, **_: Any) -> None:
    queues = (options or {}).get("queues")
    if isinstance(queues, str):
        queues = {q.strip() for q in queues.split(",") if q.strip()}
    names = set(queues) if queues else None
    if conf is not None:
        conf.worker_prefetch_multiplier = prefetch_for(names)


def sweep_on_start(sender: Any = None, **_: Any) -> None:
    """Send one stuck sweep; a broker that cannot take it now only delays it to beat's."""
    app = getattr(sender, "app", None)
    if app is None:
        return
    try:
        app.send_task(SWEEP_STUCK, expires=SWEEP_ON_START_EXPIRES_S)
    except Exception as unsent:  # the worker runs on; beat sweeps too
        log.warning("could not send the stuck sweep at start: %s", unsent)


def binding_for(args: Any) -> tuple[str, str]:
    """(recommendation id, client_order_id) from a task's first argument (the id, or a
    step's message), or dashes."""
    rid = recommendation_id_in(args[0] if args else None)
    if not rid:
        return ("-", "-")
    return (rid, order_id_of(rid))


def bind_task(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
    _BOUND.set(binding_for(args))


def unbind_task(**_: Any) -> None:
    _BOUND.set(("-", "-"))


def install_log_fields() -> None:
    """Every LogRecord gets ``recommendation_id`` and ``client_order_id`` (dashes outside
    a task), so the formats may name them and no handler can choke on their absence."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.recommendation_id, record.client_order_id = _BOUND.get()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
