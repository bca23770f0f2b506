"""Thin Celery tasks: JSON in, a services call, JSON out. Importing this package
registers every task (``strikeflow.workers.app`` includes it)."""

from strikeflow.tasks import entry, pipeline, recovery, scan
from strikeflow.tasks.chains import dispatch_chain

__all__ = ["dispatch_chain", "entry", "pipeline", "recovery", "scan"]
