"""The Celery side of the retry budget (``domain.retry_budget``): a task base class.

Every retry of a ``BudgetedTask`` (Celery's autoretry and an explicit ``self.retry``
alike) asks the budget for its countdown. The deadline is fixed at the first retry and
travels in the retried message's headers (``DEADLINE_HEADER``, seconds since the epoch),
so a redelivery, or a retry taken by another worker, keeps the same deadline; Celery
re-sends the same message (same task id, same arguments: submit_order's
client_order_id) with ``retries + 1``. Once the deadline is too near, the retry raises
the error it was given instead: the step fails, and its errback records the failure.

The budget's figures are task attributes, set for every task from the settings
(STRIKEFLOW_RETRY_DEADLINE_S, STRIKEFLOW_RETRY_FLOOR_S) by ``workers.config``'s task
annotations. ``max_retries`` is None: the clock decides, not a count (the floor bounds the
count at ``deadline_s / floor_s``).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from celery import Task
from celery.exceptions import MaxRetriesExceededError
from celery.utils.serialization import raise_with_context

from strikeflow.domain.retry_budget import CAP_S, DEADLINE_S, FLOOR_S, RetryBudget, next_countdown

log = logging.getLogger(__name__)

DEADLINE_HEADER = "strikeflow_retry_deadline"


class BudgetedTask(Task):
    """A task whose retries stop at a deadline, not after a number of attempts."""

    # What the app's own task class (``workers.messages.CheckedTask``) gives every task,
    # which a task built on this base instead would lose: the message check before the
    # pool, and the bounded result repr. Named, not imported: tasks sit below workers.
    Strategy = "strikeflow.workers.messages:checked_strategy"
    resultrepr_maxsize = 256

    max_retries = None
    retry_deadline_s: float = DEADLINE_S
    retry_floor_s: float = FLOOR_S
    retry_cap_s: float = CAP_S

    def retry_budget(self) -> RetryBudget:
        return RetryBudget(
            deadline_s=self.retry_deadline_s,
            floor_s=min(self.retry_floor_s, self.retry_cap_s, self.retry_deadline_s),
            cap_s=self.retry_cap_s,
        )

    def retry_deadline(self) -> float:
        """This step's deadline: from its message, or from now for a first failure."""
        carried = (self.request.headers or {}).get(DEADLINE_HEADER)
        if isinstance(carried, int | float) and not isinstance(carried, bool):
            return float(carried)
        return self.retry_budget().deadline_from(time.time())

    def retry_countdown(self, deadline: float | None = None) -> float | None:
        """The wait before the next try, or None when the budget is spent."""
        deadline = self.retry_deadline() if deadline is None else deadline
        retries = self.request.retries or 0
        return next_countdown(self.retry_budget(), deadline, time.time(), retries, random.random())

    def retry(  # type: ignore[override]
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        """Celery's retry with the budget's countdown (a caller's ``countdown``, ``eta``
        and ``max_retries`` are not taken: the budget decides) and the deadline in the
        message. Past the deadline, ``exc`` is raised instead."""
        deadline = self.retry_deadline()
        wait = self.retry_countdown(deadline)
        if wait is None:
            self._log_spent(deadline)
            if exc is not None:
                raise_with_context(exc)
            raise MaxRetriesExceededError(f"{self.name}: retry budget spent")
        return self._resend(args, kwargs, exc, throw, wait, deadline, **options)

    def retry_if_budget_left(self, exc: BaseException) -> None:
        """Raise Celery's Retry (the same message) while the budget lasts; return once it
        is spent, for a caller that has something else to do then (submit_order's
        fallback)."""
        deadline = self.retry_deadline()
        wait = self.retry_countdown(deadline)
        if wait is None:
            self._log_spent(deadline)
            return
        raise self._resend(None, None, exc, True, wait, deadline)

    def _resend(
        self,
        args: Any,
        kwargs: Any,
        exc: BaseException | None,
        throw: bool,
        wait: float,
        deadline: float,
        **options: Any,
    ) -> Any:
        headers = {**(self.request.headers or {}), **options.pop("headers", {})}
        headers[DEADLINE_HEADER] = deadline
        return super().retry(
            args, kwargs, exc, throw, countdown=wait, max_retries=None, headers=headers, **options
        )

    def _log_spent(self, deadline: float) -> None:
        spent = self.retry_budget().deadline_s - (deadline - time.time())
        log.warning(
            "retry budget spent: %s gives up after %d retries, %.1f s from its first failure",
            self.name,
            self.request.retries or 0,
            spent,
        )
