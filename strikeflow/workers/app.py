"""The Celery app: ``celery -A strikeflow.workers.app worker -Q marketdata,dispatch,...``.

Importing it connects to nothing and reads no environment: the configuration is built
from Settings when the app first needs it (``add_defaults`` takes a callable).
"""

from __future__ import annotations

from celery import Celery

from strikeflow.workers import startup
from strikeflow.workers.config import celery_config

app = Celery(
    "strikeflow", include=["strikeflow.tasks"], task_cls="strikeflow.workers.messages:CheckedTask"
)
app.add_defaults(celery_config)
startup.connect()

__all__ = ["app"]
