"""``strikeflow.scan`` on a real in-process worker over memory:// (no eager mode): its
JSON contract, the chains it sends and marks dispatched, the same minute twice, the
runtime's now by default, a bad ``at``, and a retry that keeps its minute."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery

import strikeflow.tasks  # noqa: F401  (registers the tasks)
from strikeflow import bootstrap
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.tasks import budgeted
from strikeflow.tasks import scan as scan_task
from strikeflow.tasks.scan import parse_instant
from tests.unit.memory_celery import memory_config, memory_worker
from tests.unit.test_scan_service import (
    AT,
    FakeMarket,
    context,
    drift,
    session,
    surge,
)

TIMEOUT_S = 15


class FakeRecommendations:
    def __init__(self, inbox) -> None:
        self.inbox = inbox
        self.statuses: list[tuple[str, RecommendationStatus]] = []

    def set_status(self, rec_id, status, reason=None, now=None):
        self.statuses.append((rec_id, RecommendationStatus(status)))
        self.inbox.mark(rec_id, RecommendationStatus(status))
        return True


@dataclass
class FakeContext:
    now: object


@dataclass
class FakeRuntime:
    scan: object
    context: FakeContext
    recommendations: FakeRecommendations
    sent: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def celery_app() -> Iterator[Celery]:
    app = Celery("strikeflow-scan-memory-test", set_as_current=False)
    app.config_from_object(memory_config(result_backend="cache+memory://"))
    app.set_current()
    app.set_default()
    with memory_worker(app):
        yield app


@pytest.fixture
def runtime(monkeypatch, celery_app) -> Iterator[FakeRuntime]:
    up, up_volume = surge(+1)
    down, down_volume = drift(-1)
    market = FakeMarket(
        {"SPY": session("SPY", up, up_volume), "TSLA": session("TSLA", down, down_volume)}
    )
    ctx = context(market)
    rt = FakeRuntime(ctx, FakeContext(lambda: market.now), FakeRecommendations(ctx.store))
    lock = threading.Lock()

    class Sent:
        def __init__(self, rid: str) -> None:
            self.id = f"chain-{rid}"

    def dispatch_chain(rid: str) -> Sent:
        with lock:
            rt.sent.append(rid)
        return Sent(rid)

    monkeypatch.setattr(scan_task, "dispatch_chain", dispatch_chain)  # the chains the scan sends
    bootstrap.install_runtime(rt)
    yield rt
    bootstrap.reset_runtime()


def send(app: Celery, **kwargs) -> dict:
    return app.send_task("strikeflow.scan", kwargs=kwargs).get(timeout=TIMEOUT_S, interval=0.02)


def test_a_scan_returns_its_json_and_sends_each_new_chain_marked_dispatched(celery_app, runtime):
    result = send(celery_app, at=AT.isoformat())
    assert result["minute"] == "2026-11-19T15:45:00+00:00"
    assert result["skipped"] is None
    assert len(result["recommendations"]) == 1
    assert result["sent"] == result["recommendations"] == runtime.sent
    (rid,) = result["sent"]
    assert runtime.recommendations.statuses == [(rid, RecommendationStatus.DISPATCHED)]
    (skip,) = result["skipped_signals"]
    assert skip["ticker"] == "TSLA"
    assert "no shorting" in skip["reason"]


def test_the_same_minute_twice_sends_nothing_the_second_time(celery_app, runtime):
    first = send(celery_app, at=AT.isoformat())
    again = send(celery_app, at=AT.replace(second=59).isoformat())
    assert len(first["sent"]) == 1
    assert "already scanned" in again["skipped"]
    assert again["sent"] == again["recommendations"] == []
    assert runtime.sent == first["sent"]


def test_without_at_the_scan_is_for_the_runtime_s_now(celery_app, runtime):
    result = send(celery_app)
    assert result["minute"] == AT.astimezone(UTC).replace(second=0).isoformat()


def test_a_closed_market_sends_nothing(celery_app, runtime):
    runtime.scan.market.is_open = False
    result = send(celery_app, at=AT.isoformat())
    assert result["skipped"].startswith("market closed")
    assert result["sent"] == []
    assert runtime.sent == []


def test_a_bad_instant_is_refused_with_its_name(celery_app, runtime):
    with pytest.raises(Exception, match="at needs a UTC offset"):
        send(celery_app, at="2026-11-19T10:45:00")
    with pytest.raises(Exception, match="at is not an ISO 8601 instant"):
        send(celery_app, at="tomorrow")
    assert runtime.sent == []


def test_a_retry_after_the_venue_was_down_scans_the_same_minute(celery_app, runtime, monkeypatch):
    market = runtime.scan.market
    real = market.stock_bars
    failures = [BrokerUnavailable("stock bars", "timed out")]

    def flaky(*args, **kwargs):
        if failures:
            market.now = AT + timedelta(minutes=3)  # the retry runs in a later minute
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(market, "stock_bars", flaky)
    monkeypatch.setattr(budgeted, "next_countdown", lambda *budget_and_clock: 0.01)
    result = send(celery_app)  # no at: the retry must carry the first attempt's instant
    assert result["minute"] == AT.astimezone(UTC).replace(second=0).isoformat()
    assert len(result["sent"]) == 1


def test_instants_parse_with_z_or_an_offset():
    assert parse_instant("2026-11-19T15:45:00Z") == datetime(2026, 11, 19, 15, 45, tzinfo=UTC)
    assert parse_instant("2026-11-19T10:45:00-05:00") == datetime(2026, 11, 19, 15, 45, tzinfo=UTC)
