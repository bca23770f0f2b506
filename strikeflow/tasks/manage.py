"""``strikeflow.manage_positions``: the exits of one minute, for beat (every minute).

Beat sends it with no arguments (the runtime's now); tests and the demo pass ``at``. A
retry after the venue or the database did not answer names the instant it started with,
so it decides the same minute (its claim was given back).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.domain.errors import BrokerUnavailable, StoreUnavailable
from strikeflow.services.manage_positions import ManageContext
from strikeflow.services.manage_positions import manage_positions as manage
from strikeflow.tasks.budgeted import BudgetedTask
from strikeflow.tasks.chains import dispatch_chain
from strikeflow.tasks.pipeline import EXPECTED
from strikeflow.tasks.scan import parse_instant

MANAGE_POSITIONS = "strikeflow.manage_positions"


def manage_context(rt: bootstrap.Runtime) -> ManageContext:
    """The run's ports from this process's runtime (the engine and clients it built)."""
    assert rt.scan is not None
    return ManageContext(
        market=rt.context.market,
        book=bootstrap.position_records(rt.settings.database_url),
        entries=rt.context.store,  # type: ignore[arg-type]
        requests=rt.recommendations,
        lock=rt.scan.lock,
        rules=rt.scan.rules.exits,
        send_chain=dispatch_chain,
        hours=rt.context.hours,
    )


@shared_task(bind=True, base=BudgetedTask, name=MANAGE_POSITIONS, **EXPECTED)
def manage_positions(self, at: str | None = None) -> dict[str, Any]:
    rt = bootstrap.runtime()
    instant = parse_instant(at) if at is not None else rt.context.now()
    try:
        outcome = manage(manage_context(rt), instant)
    except (BrokerUnavailable, StoreUnavailable) as down:
        # the retry budget's countdown (tasks.budgeted); past its deadline, ``down``
        raise self.retry(kwargs={"at": instant.isoformat()}, exc=down) from down
    return outcome.to_json()
