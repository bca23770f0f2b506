"""Task messages checked for shape before Celery builds a request from them.

Celery's worker unpacks a protocol 2 body as ``(args, kwargs, embed)`` without checking
it: a message whose body is any other JSON (a list of two, an object) raises a
ValueError in the consumer, which Celery treats as unrecoverable. The worker exits,
the unacknowledged message is restored, and the next worker dies on it too: one bad
message stops a queue for good. Here such a message is refused as an invalid task
(Celery logs and discards it) and marked FAILURE in the result backend under its id,
so whoever sent it can see why; so is one whose body cannot be decoded at all (not
JSON, or a content type the app does not accept), which Celery only logs.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import InvalidTaskError
from celery.worker.strategy import default
from kombu.exceptions import ContentDisallowed, DecodeError

log = logging.getLogger(__name__)


def body_problem(body: Any) -> str | None:
    """What is wrong with a decoded protocol 2 body, or None if it has the right shape."""
    if not isinstance(body, list | tuple) or len(body) != 3:
        return "the body must be [args, kwargs, embed]"
    args, kwargs, embed = body
    if not isinstance(args, list | tuple):
        return "args must be a list"
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        return "kwargs must be an object"
    if not isinstance(embed, dict | type(None)):
        return "embed must be an object"
    return None


def checked_strategy(task: Task, app: Any, consumer: Any, **options: Any):
    """Celery's default strategy, after a check of the message's shape."""
    handle = default(task, app, consumer, **options)

    def on_message(message, body, ack, reject, callbacks, **extra):
        headers = message.headers or {}
        try:
            payload = message.payload
        except (DecodeError, ContentDisallowed) as undecodable:
            # Celery logs and discards it; the sender also finds it FAILED under its id.
            record_refusal(task, headers, InvalidTaskError(f"undecodable body: {undecodable}"))
            raise
        if body is None and "args" not in payload:  # protocol 2, as we send
            problem = body_problem(payload)
            if problem is not None:
                error = InvalidTaskError(f"malformed {task.name} message: {problem}")
                record_refusal(task, headers, error)
                raise error
        return handle(message, body, ack, reject, callbacks, **extra)

    return on_message


def record_refusal(task: Task, headers: dict[str, Any], error: Exception) -> None:
    task_id = headers.get("id")
    log.error("refused %s message %s: %s", task.name, task_id, error)
    if isinstance(task_id, str):
        try:
            task.backend.mark_as_failure(task_id, error)
        except Exception as unrecorded:  # the refusal stands; the log says why
            log.error("could not record %s as failed: %s", task_id, unrecorded)


class CheckedTask(Task):
    """The app's task base: every task's messages are checked for shape.

    A result's repr (the "succeeded" log line, the task-succeeded event Flower shows)
    stops at 256 characters: a step's payload opens with its recommendation id, client
    order id, ticker, action and instrument, and the rest (chain, quotes, explain) cost
    more to render on every step than the line is worth."""

    Strategy = "strikeflow.workers.messages:checked_strategy"
    resultrepr_maxsize = 256
