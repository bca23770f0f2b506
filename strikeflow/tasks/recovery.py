"""``strikeflow.recover`` (the recovery walk, for ``celery call`` and beat) and
``strikeflow.sweep_stuck`` (the walk that re-drives lost chains with no operator: beat,
and every worker once at start)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.services.recovery import recover as recover_stale
from strikeflow.services.recovery import sweep_stuck as sweep_stuck_recommendations
from strikeflow.tasks.chains import dispatch_chain
from strikeflow.tasks.pipeline import READ_RETRY

SWEEP_STUCK = "strikeflow.sweep_stuck"


@shared_task(name="strikeflow.recover", **READ_RETRY)
def recover(min_age_s: float = 60.0, redrive: bool = True) -> dict[str, Any]:
    rt = bootstrap.runtime()
    report = recover_stale(
        rt.context,
        rt.recommendations,
        dispatch_chain,
        redrive=redrive,
        min_age_s=min_age_s,
    )
    return report.to_json()


@shared_task(name=SWEEP_STUCK, **READ_RETRY)
def sweep_stuck() -> dict[str, Any]:
    """Re-drive what stayed pending or dispatched past ``STRIKEFLOW_STUCK_AFTER_S``."""
    rt = bootstrap.runtime()
    report = sweep_stuck_recommendations(
        rt.context,
        rt.recommendations,
        dispatch_chain,
        stuck_after_s=rt.settings.stuck_after_s,
    )
    return report.to_json()
