"""``strikeflow.recover``: the recovery walk as a task, for ``celery call`` and beat."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.services.recovery import recover as recover_stale
from strikeflow.tasks.chains import dispatch_chain
from strikeflow.tasks.pipeline import READ_RETRY


@shared_task(name="strikeflow.recover", **READ_RETRY)
def recover(min_age_s: float = 60.0, redrive: bool = True) -> dict[str, Any]:
    rt = bootstrap.runtime()
    report = recover_stale(
        rt.context, rt.recommendations, dispatch_chain, redrive=redrive, min_age_s=min_age_s
    )
    return report.to_json()
