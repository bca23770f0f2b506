"""``strikeflow.record_venue_events``: what the venue closed on its own, for beat."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strikeflow import bootstrap
from strikeflow.services.ports import VenueActivities
from strikeflow.services.venue_events import record_venue_events as record
from strikeflow.tasks.pipeline import READ_RETRY

RECORD_VENUE_EVENTS = "strikeflow.record_venue_events"


@shared_task(name=RECORD_VENUE_EVENTS, **READ_RETRY)
def record_venue_events() -> dict[str, Any]:
    rt = bootstrap.runtime()
    ctx = rt.context
    if not isinstance(ctx.broker, VenueActivities):
        return {"read": 0, "new": 0, "recorded": [], "skipped": "the broker lists no activities"}
    store = bootstrap.venue_event_store(rt.settings.database_url)
    return record(store, ctx.broker, ctx.market, ctx.now).to_json()
