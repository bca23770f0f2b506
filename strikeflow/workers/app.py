"""The Celery app: ``celery -A strikeflow.workers.app worker -Q marketdata,dispatch,...``.

Importing it connects to nothing and reads no environment: the configuration is built
from Settings when the app first needs it (``add_defaults`` takes a callable). Once it is
built, a configuration that signs messages (``signing``) gets Celery's security set up.
"""

from __future__ import annotations

from celery import Celery

from strikeflow.workers import signing, startup
from strikeflow.workers.config import celery_config

app = Celery(
    "strikeflow", include=["strikeflow.tasks"], task_cls="strikeflow.workers.messages:CheckedTask"
)
app.add_defaults(celery_config)
app.on_after_configure.connect(signing.setup_security, weak=False)
startup.connect()

__all__ = ["app"]
