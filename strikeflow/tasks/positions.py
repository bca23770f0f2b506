"""``strikeflow.check_positions``: the position book against the venue, for beat."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.services.position_check import check_positions as check
from strikeflow.tasks.pipeline import READ_RETRY

CHECK_POSITIONS = "strikeflow.check_positions"


@shared_task(name=CHECK_POSITIONS, **READ_RETRY)
def check_positions() -> dict[str, Any]:
    rt = bootstrap.runtime()
    records = bootstrap.position_records(rt.settings.database_url)
    ctx = rt.context
    return check(records, ctx.broker, ctx.market, ctx.now).to_json()
