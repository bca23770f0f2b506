"""The strikeflow worker app with kill points armed, for the chaos suite only.

``celery -A tests.e2e.chaos_worker worker ...`` runs the real app (every task, every
setting) with three changes read from the environment:

- ``CHAOS_VISIBILITY_TIMEOUT_S``: the broker's visibility timeout, lowered so a killed
  worker's messages come back in seconds instead of ten minutes;
- ``CHAOS_KILLS``: kill points, ``point@n`` separated by commas. At the n-th time a pool
  process reaches the point, it SIGKILLs its whole worker (main process and pool):
  - ``after_publish``: fetch_chain has published select_contract, not yet acked;
  - ``after_accept``: inside submit_order, the venue accepted the order, the task has
    not returned (nothing persisted, nothing acked);
  - ``in_persist``: inside persist_execution, the execution row (with the
    recommendation's terminal state, one transaction) is committed, the task not acked;
  - ``after_replace``: inside a worked order's step (work_order), the venue replaced
    the resting order, nothing of the step is recorded, the task not acked;
- ``CHAOS_DIR``: where each firing leaves a marker, so a point fires at most
  ``CHAOS_MAX_FIRES`` times in a whole run, across restarts;
- ``CHAOS_STOPS``: stop points, ``point@n`` as for kills. At the n-th time a pool
  process reaches the point, it SIGSTOPs itself (that pool process only: its worker's
  main process goes on), once in a whole run: the marker ``point.stopped`` in
  ``CHAOS_DIR`` holds its pid, for whoever sends the SIGCONT. A hung worker, not a dead
  one.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from celery import signals

from strikeflow import bootstrap
from strikeflow.workers.app import app

POINTS = ("after_publish", "after_accept", "in_persist", "after_replace")
_reached: Counter[str] = Counter()


def _armed(variable: str = "CHAOS_KILLS") -> dict[str, int]:
    armed = {}
    for item in filter(None, os.environ.get(variable, "").split(",")):
        point, _, nth = item.partition("@")
        if point not in POINTS:
            raise ValueError(f"{variable}: unknown point {point!r}; known: {POINTS}")
        armed[point] = int(nth or 1)
    return armed


ARMED = _armed()
STOPS = _armed("CHAOS_STOPS")
_stop_reached: Counter[str] = Counter()


def stop_here(point: str) -> None:
    """Count ``point``; at its stop count, claim the run's one stop of it and SIGSTOP
    this pool process (it goes on at SIGCONT, from where it stopped)."""
    if point not in STOPS:
        return
    _stop_reached[point] += 1
    if _stop_reached[point] % STOPS[point]:
        return
    marker = Path(os.environ["CHAOS_DIR"]) / f"{point}.stopped"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # stopped once already in this run
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGSTOP)


def reach(point: str) -> None:
    """Count ``point``; at its armed count, claim a firing and kill this worker."""
    stop_here(point)
    if point not in ARMED:
        return
    _reached[point] += 1
    if _reached[point] % ARMED[point]:
        return
    chaos_dir = Path(os.environ["CHAOS_DIR"])
    for firing in range(int(os.environ.get("CHAOS_MAX_FIRES", "1"))):
        try:
            fd = os.open(chaos_dir / f"{point}.{firing}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.killpg(os.getpgid(0), signal.SIGKILL)
    # every firing of this point is spent: carry on


class KillAfterSubmit:
    """The broker, killing the worker once the venue has answered a submit or a replace."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker

    def submit(self, intent: Any) -> Any:
        order = self._broker.submit(intent)
        reach("after_accept")
        return order

    def replace_order(self, *args: Any) -> Any:
        order = self._broker.replace_order(*args)
        reach("after_replace")
        return order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)


class KillAfterUpsert:
    """The store, killing the worker once an execution row is committed with the
    recommendation's outcome (one transaction)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def record_outcome(self, execution: Any, *args: Any) -> Any:  # row and status, one commit
        stored = self._store.record_outcome(execution, *args)
        reach("in_persist")
        return stored

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def arm_runtime(**_: Any) -> None:
    """After strikeflow built this process's Runtime (its own worker_process_init)."""
    ctx = bootstrap.runtime().context
    ctx.broker = KillAfterSubmit(ctx.broker)
    ctx.store = KillAfterUpsert(ctx.store)


def after_publish(sender: str | None = None, **_: Any) -> None:
    if sender == "strikeflow.select_contract":
        reach("after_publish")


signals.worker_process_init.connect(arm_runtime, weak=False, dispatch_uid="chaos-arm")
signals.after_task_publish.connect(after_publish, weak=False, dispatch_uid="chaos-publish")

_visibility = os.environ.get("CHAOS_VISIBILITY_TIMEOUT_S")
if _visibility:
    _transport = {
        "visibility_timeout": float(_visibility),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    app.conf.broker_transport_options = _transport
    app.conf.result_backend_transport_options = dict(_transport)

__all__ = ["app"]
