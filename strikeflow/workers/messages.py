"""Task messages checked for shape before Celery builds a request from them.

Celery's worker unpacks a protocol 2 body as ``(args, kwargs, embed)`` without checking
it: a message whose body is any other JSON (a list of two, an object) raises a
ValueError in the consumer, which Celery treats as unrecoverable. The worker exits,
the unacknowledged message is restored, and the next worker dies on it too: one bad
message stops a queue for good. Here such a message is refused as an invalid task
(Celery logs and discards it) and marked FAILURE in the result backend under its id,
so whoever sent it can see why; so is one whose body cannot be decoded at all (not
JSON, or a content type the app does not accept), which Celery only logs.

The check reads the whole body, not only its top level: a message that decodes can still
kill the worker later. A list nested 900 deep passes JSON but not pickle, which the pool
uses to hand the arguments to its child: the worker exits with "Unrecoverable error" and
the message comes back to kill the next one. So a body is also refused when it is larger
than ``MAX_BODY_BYTES``, nested deeper than ``MAX_DEPTH``, or holds a value no step can
take: a lone surrogate or a control character in a string or key (no database or JSON
encoder takes them back out), a number that is not finite, an integer past 64 bits. The
walk is iterative and stops at the first problem, so it costs at most one pass over a
body the size limit already bounds. A refused message is acknowledged (Celery rejects it
without requeue), never retried; when it names a recommendation, a
``strikeflow.record_failure`` records the refusal on it if its chain is running
(dispatched; otherwise, and for an unknown id, nothing changes), otherwise the log line
is the record.

With message signing on (``signing``), the raw body is the signed envelope: the size
limit applies to it as it travels, and decoding it verifies the signature before any
JSON is read. An unsigned message (JSON, not accepted) or one whose signature does not
verify against the trusted certificates is refused as undecodable, before its body is
read: nothing in it is believed, so no recommendation it names is touched.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from celery import Task
from celery.exceptions import InvalidTaskError
from celery.worker.strategy import default
from kombu.exceptions import ContentDisallowed, DecodeError

from strikeflow.workers.signing import AUTH_CONTENT_TYPE

log = logging.getLogger(__name__)

# A step's largest message (an option chain's contracts) is tens of KB.
MAX_BODY_BYTES = 2 * 1024 * 1024
# A chain's embed (its next steps and their errbacks) nests about a dozen deep; pickle
# gives out near a thousand.
MAX_DEPTH = 64
MAX_INT = 2**63 - 1
MAX_ID_CHARS = 200
RECORD_FAILURE = "strikeflow.record_failure"  # tasks.entry, by name
# What no text field carries: a lone surrogate; a control character (C0 but tab, newline
# and carriage return; DEL). One search in C per string: every message's every string is
# checked, a chain's message holds hundreds.
_UNSTORABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_problem(text: str) -> str | None:
    """What makes ``text`` unstorable, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if "\ud800" <= found.group() <= "\udfff":
        return "a string holds a lone surrogate"
    return "a string holds a control character"


def value_problem(value: Any) -> str | None:
    """What no step can take in a decoded JSON value, walked without recursion: nesting
    past MAX_DEPTH, unstorable text, numbers that are not finite or past 64 bits."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH}"
            if isinstance(item, dict):
                for key, inner in item.items():
                    if not isinstance(key, str):
                        return "an object key is not a string"
                    problem = text_problem(key)
                    if problem is not None:
                        return problem
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return problem
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -MAX_INT - 1 <= item <= MAX_INT:
                return "an integer past 64 bits"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "a number that is not finite"
        else:
            return f"a value of type {type(item).__name__}"
    return None


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
    return value_problem(body)


def size_problem(raw: Any) -> str | None:
    """A raw body past MAX_BODY_BYTES, told before it is decoded."""
    size = len(raw) if isinstance(raw, bytes | bytearray | str) else 0
    if size > MAX_BODY_BYTES:
        return f"the body is {size} bytes, more than {MAX_BODY_BYTES}"
    return None


def checked_strategy(task: Task, app: Any, consumer: Any, **options: Any):
    """Celery's default strategy, after a check of the message's shape."""
    handle = default(task, app, consumer, **options)

    def on_message(message, body, ack, reject, callbacks, **extra):
        headers = message.headers or {}
        # The headers travel to the pool beside the body: they are walked the same way.
        unfit = size_problem(message.body) or value_problem(headers)
        if unfit is not None:
            error = InvalidTaskError(f"malformed {task.name} message: {unfit}")
            record_refusal(task, headers, error)
            raise error
        try:
            payload = message.payload
        except (DecodeError, ContentDisallowed) as undecodable:
            # Celery logs and discards it; the sender also finds it FAILED under its id.
            reason = undecodable_reason(message, undecodable)
            record_refusal(task, headers, InvalidTaskError(reason))
            raise
        if body is None and "args" not in payload:  # protocol 2, as we send
            problem = body_problem(payload)
            if problem is not None:
                error = InvalidTaskError(f"malformed {task.name} message: {problem}")
                record_refusal(task, headers, error, named_recommendation(payload))
                raise error
        return handle(message, body, ack, reject, callbacks, **extra)

    return on_message


def undecodable_reason(message: Any, error: Exception) -> str:
    """Why a body could not be read: a signature that does not verify (an unknown
    certificate, a bad signature, an expired certificate) is said as such."""
    if isinstance(error, DecodeError) and message.content_type == AUTH_CONTENT_TYPE:
        return f"signature not verified: {error}"
    if isinstance(error, ContentDisallowed) and AUTH_CONTENT_TYPE in (message.accept or ()):
        return f"unsigned message refused (signed messages only): {error}"
    return f"undecodable body: {error}"


def named_recommendation(payload: Any) -> str | None:
    """The recommendation a refused body names in its usual places (a step's first
    argument, its message's ticket, or ``recommendation_id=``), if it is a plausible id;
    read without walking the rest of the body."""
    if not isinstance(payload, list | tuple) or len(payload) != 3:
        return None
    args, kwargs, _ = payload
    candidates = [kwargs.get("recommendation_id")] if isinstance(kwargs, dict) else []
    if isinstance(args, list | tuple) and args:
        candidates.append(_shallow_id(args[0]))
    for rid in candidates:
        if (
            isinstance(rid, str)
            and 0 < len(rid) <= MAX_ID_CHARS
            and rid.isprintable()
            and text_problem(rid) is None
        ):
            return rid
    return None


def _shallow_id(first: Any) -> Any:
    if isinstance(first, str):
        return first
    if not isinstance(first, dict):
        return None
    for holder in (first, first.get("ticket")):
        if isinstance(holder, dict) and "recommendation_id" in holder:
            return holder["recommendation_id"]
    return None


def record_refusal(
    task: Task, headers: dict[str, Any], error: Exception, recommendation_id: str | None = None
) -> None:
    """Log the refusal, mark its task id FAILED, and when it names a recommendation,
    send its terminal record; any of these failing leaves the others standing."""
    task_id = headers.get("id")
    if not (isinstance(task_id, str) and len(task_id) <= MAX_ID_CHARS and task_id.isprintable()):
        task_id = None  # a poisoned id is neither logged nor used as a key
    log.error("refused %s message %s: %s", task.name, task_id, error)
    if task_id is not None:
        try:
            task.backend.mark_as_failure(task_id, error)
        except Exception as unrecorded:  # the refusal stands; the log says why
            log.error("could not record %s as failed: %s", task_id, unrecorded)
    if recommendation_id is not None:
        reason = f"refused {task.name} message: {error}"
        try:
            task.app.send_task(RECORD_FAILURE, args=(recommendation_id, "failed", reason))
        except Exception as unsent:
            log.error("could not record the refusal on %s: %s", recommendation_id, unsent)


class CheckedTask(Task):
    """The app's task base: every task's messages are checked for shape.

    A result's repr (the "succeeded" log line, the task-succeeded event Flower shows)
    stops at 256 characters: a step's payload opens with its recommendation id, client
    order id, ticker, action and instrument, and the rest (chain, quotes, explain) cost
    more to render on every step than the line is worth."""

    Strategy = "strikeflow.workers.messages:checked_strategy"
    resultrepr_maxsize = 256
