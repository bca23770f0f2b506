"""Thin Celery tasks: a message in, a services call, the next message out. Importing this
package registers every task (``strikeflow.workers.app`` includes it)."""

from strikeflow.tasks import entry, pipeline, recovery, scan

__all__ = ["entry", "pipeline", "recovery", "scan"]
