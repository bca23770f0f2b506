"""Thin Celery tasks: a message in, a services call, the next message out. Importing this
package registers every task (``strikeflow.workers.app`` includes it)."""

from strikeflow.tasks import (
    closing,
    entry,
    manage,
    pipeline,
    positions,
    recovery,
    scan,
    stale_entries,
    venue_events,
    working,
)

__all__ = [
    "closing",
    "entry",
    "manage",
    "pipeline",
    "positions",
    "recovery",
    "scan",
    "stale_entries",
    "venue_events",
    "working",
]
