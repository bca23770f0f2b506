"""Thin Celery tasks: a message in, a services call, the next message out. Importing this
package registers every task (``strikeflow.workers.app`` includes it)."""

from strikeflow.tasks import closing, entry, pipeline, positions, recovery, scan, stale_entries

__all__ = ["closing", "entry", "pipeline", "positions", "recovery", "scan", "stale_entries"]
