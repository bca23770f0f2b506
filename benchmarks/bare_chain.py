"""The baseline of bench_pipeline: a no-op task on strikeflow's own Celery settings (JSON,
acks_late, Redis results), on a queue of its own. Six of them make the bare chain.

Run by a worker as ``celery -A bare_chain worker -Q bare`` (benchmarks/ on PYTHONPATH).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from strikeflow.workers.config import celery_config

QUEUE = "bare"
TASK = "bare.step"


def _config() -> dict[str, Any]:
    return {
        **celery_config(),
        "task_queues": (Queue(QUEUE, routing_key=QUEUE),),
        "task_default_queue": QUEUE,
        "task_routes": {TASK: {"queue": QUEUE}},
        "task_annotations": {},
    }


app = Celery("bare_chain")
app.add_defaults(_config)


@app.task(name=TASK)
def step(payload: dict[str, Any]) -> dict[str, Any]:
    return payload
