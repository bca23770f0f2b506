"""``strikeflow.cancel_stale_entries``: cancel entries resting past their time, for beat."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.services.stale_entries import cancel_stale_entries as cancel_stale
from strikeflow.tasks.pipeline import READ_RETRY

CANCEL_STALE_ENTRIES = "strikeflow.cancel_stale_entries"


@shared_task(name=CANCEL_STALE_ENTRIES, **READ_RETRY)
def cancel_stale_entries(limit: int = 500) -> dict[str, Any]:
    rt = bootstrap.runtime()
    return cancel_stale(rt.context, rt.settings.entry_max_rest_s, limit).to_json()
