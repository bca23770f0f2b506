"""``strikeflow.scan`` (queue ``signals``): one scan of the watchlist, then the chains.

Beat sends it with no arguments (the runtime's now: the wall clock, or the emulator's
simulated clock with STRIKEFLOW_CLOCK=market); tests and the demo pass ``at``. A retry
after BrokerUnavailable names the instant it started with, so it scans the same minute.
A refusal (OrderRejected: a data plan that does not cover the feed, say) is not retried:
the task fails once with the venue's reason, which names the setting to change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.domain.errors import BrokerUnavailable, InvalidRecord
from strikeflow.services import scan as scans
from strikeflow.services.chain_sending import send_and_mark
from strikeflow.tasks.budgeted import BudgetedTask
from strikeflow.tasks.chains import dispatch_chain
from strikeflow.tasks.pipeline import EXPECTED

ZONE_SUFFIXES = ("Z", "z")


def parse_instant(at: str) -> datetime:
    """An ISO 8601 instant with its offset (``Z`` or ``+00:00``), else InvalidRecord."""
    if not isinstance(at, str):
        raise InvalidRecord("at", f"must be an ISO 8601 instant string, got {at!r}")
    text = at[:-1] + "+00:00" if at.endswith(ZONE_SUFFIXES) else at
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecord("at", f"is not an ISO 8601 instant: {at!r}") from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidRecord("at", f"needs a UTC offset (e.g. 'Z' or '-05:00'): {at!r}")
    return instant


@shared_task(bind=True, base=BudgetedTask, name="strikeflow.scan", **EXPECTED)
def scan(self, at: str | None = None) -> dict[str, Any]:
    rt = bootstrap.runtime()
    instant = parse_instant(at) if at is not None else rt.context.now()
    try:
        outcome = scans.scan(rt.scan, instant)
    except BrokerUnavailable as down:
        # the retry budget's countdown (tasks.budgeted); past its deadline, ``down``
        raise self.retry(kwargs={"at": instant.isoformat()}, exc=down) from down
    sent = []
    for rid in outcome.to_send:
        send_and_mark(rt.recommendations, dispatch_chain, rid)
        sent.append(rid)
    return {**outcome.to_json(), "sent": sent}
