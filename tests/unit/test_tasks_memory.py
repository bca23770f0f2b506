"""The tasks on a real in-process Celery worker over the memory:// transport (no eager
mode): the chain's order, retries on BrokerUnavailable only, the fallback after the
last retry, and the errback that leaves a terminal record. The step functions are a
hand-written fake of services.dispatch; the wiring around them is the real thing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery
from celery.app import autoretry

import strikeflow.tasks  # noqa: F401  (registers the tasks)
from strikeflow import bootstrap
from strikeflow.domain.errors import (
    BrokerUnavailable,
    DispatchRejected,
    OrderRejected,
    StoreUnavailable,
)
from strikeflow.domain.records import RecommendationStatus
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.tasks import entry, pipeline
from strikeflow.tasks.entry import (
    chain_for,
    dispatch_chain,
    failure_kind,
    recommendation_id_of,
)
from tests.unit.memory_celery import POLL_S, memory_config, memory_worker

STEPS = (
    "fetch_chain",
    "select_contract",
    "snapshot_price",
    "size_position",
    "submit_order",
    "persist_execution",
)


class FakeSteps:
    """services.dispatch with the same signatures; each step appends its name to the
    payload's trail, and ``fail`` makes a step raise the given exceptions in turn."""

    DispatchContext = object

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failures: list[tuple[str, str, str]] = []
        self.explains: list[dict | None] = []
        self.fail: dict[str, list[BaseException]] = {}
        self.lock = threading.Lock()

    def _step(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append((name, payload))
            queued = self.fail.get(name)
            if queued:
                raise queued.pop(0)
        return {**payload, "trail": [*payload.get("trail", []), name]}

    def fetch_chain(self, ctx, recommendation_id: str) -> dict[str, Any]:
        return self._step("fetch_chain", {"recommendation_id": recommendation_id})

    def select_contract(self, ctx, payload):
        return self._step("select_contract", payload)

    def snapshot_price(self, ctx, payload):
        return self._step("snapshot_price", payload)

    def size_position(self, ctx, payload):
        return self._step("size_position", payload)

    def submit_order(self, ctx, payload):
        return self._step("submit_order", payload)

    def persist_execution(self, ctx, payload):
        return self._step("persist_execution", payload)

    def order_intent(self, ctx, payload):
        return {"client_order_id": f"coid-{payload['recommendation_id']}"}

    def with_order(self, payload, order):
        return {**payload, "order": order}

    def record_failure(
        self, ctx, recommendation_id: str, kind: str, message: str, explain=None
    ) -> None:
        with self.lock:
            self.failures.append((recommendation_id, kind, message))
            self.explains.append(explain)

    def reconcile_orders(self, ctx, limit: int = 500) -> int:
        return 0


class FakeFallback:
    """FallbackBroker.fall_back: simulate (returns an order) or re-raise (reject)."""

    def __init__(self, simulate: bool = True) -> None:
        self.simulate = simulate
        self.intents: list[Any] = []

    def fall_back(self, intent, failure):
        self.intents.append(intent)
        if not self.simulate:
            raise failure
        return {"mode": "SIMULATED", "client_order_id": intent["client_order_id"]}


class FakeRecommendations:
    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}
        self.statuses: dict[str, list[RecommendationStatus]] = {}

    def insert(self, rec):
        created = rec.id not in self.rows
        self.rows.setdefault(rec.id, rec)
        return self.rows[rec.id], created

    def get(self, rec_id):
        return self.rows.get(rec_id)

    def set_status(self, rec_id, status, reason=None, now=None):
        self.statuses.setdefault(rec_id, []).append(RecommendationStatus(status))
        return True


@dataclass
class FakeRuntime:
    context: object = field(default_factory=object)
    fallback: FakeFallback = field(default_factory=FakeFallback)
    recommendations: FakeRecommendations = field(default_factory=FakeRecommendations)


@pytest.fixture(scope="module")
def celery_app() -> Iterator[Celery]:
    app = Celery("strikeflow-memory-test", set_as_current=False)
    app.config_from_object(memory_config(result_backend="cache+memory://"))
    app.set_current()
    app.set_default()
    with memory_worker(app):
        yield app


@pytest.fixture
def fakes(monkeypatch, celery_app) -> tuple[FakeSteps, FakeRuntime]:
    steps, rt = FakeSteps(), FakeRuntime()
    monkeypatch.setattr(pipeline, "steps", steps)
    monkeypatch.setattr(entry, "steps", steps)
    bootstrap.install_runtime(rt)
    yield steps, rt
    bootstrap.reset_runtime()


@pytest.fixture(autouse=True)
def backoffs(monkeypatch) -> list[dict]:
    """Celery's autoretry backoff, recorded and shortened for every test here: retries
    are asked for with the task's own backoff settings, and wait milliseconds instead of
    up to seconds of random jitter."""
    asked: list[dict] = []

    def shortened(**kwargs) -> float:
        asked.append(kwargs)
        return 0.01

    monkeypatch.setattr(autoretry, "get_exponential_backoff_interval", shortened)
    return asked


def wait_for(condition, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


def names(steps: FakeSteps) -> list[str]:
    return [name for name, _ in steps.calls]


def test_the_chain_runs_every_step_in_order(fakes):
    steps, _ = fakes
    result = dispatch_chain("rec-ok").get(timeout=15, interval=POLL_S)
    assert result["trail"] == list(STEPS)
    assert result["recommendation_id"] == "rec-ok"
    assert names(steps) == list(STEPS)
    assert steps.failures == []


def test_submit_order_retries_broker_unavailable_with_the_same_payload(fakes):
    steps, rt = fakes
    steps.fail["submit_order"] = [BrokerUnavailable("submit", "timed out")]
    result = dispatch_chain("rec-retry").get(timeout=15, interval=POLL_S)
    submits = [p for n, p in steps.calls if n == "submit_order"]
    assert len(submits) == 2
    assert submits[0] == submits[1]
    assert result["trail"] == list(STEPS)
    assert rt.fallback.intents == []
    assert steps.failures == []


def test_a_rejection_is_not_retried_and_ends_rejected(fakes):
    steps, _ = fakes
    steps.fail["submit_order"] = [OrderRejected("submit", 403, 40310000, "insufficient")]
    dispatch_chain("rec-refused")
    rid, kind, message = wait_for(lambda: steps.failures)[0]
    assert (rid, kind) == ("rec-refused", "rejected")
    assert "OrderRejected" in message
    assert "insufficient" in message
    broker = {"status": 403, "code": 40310000, "message": "insufficient"}
    assert steps.explains == [{"broker": broker}]
    assert names(steps).count("submit_order") == 1
    assert "persist_execution" not in names(steps)


def test_a_failure_in_the_first_step_ends_failed_with_the_id_from_its_argument(fakes):
    steps, _ = fakes
    steps.fail["fetch_chain"] = [RuntimeError("boom")]
    dispatch_chain("rec-broken")
    assert wait_for(lambda: steps.failures)[0][:2] == ("rec-broken", "failed")
    assert names(steps) == ["fetch_chain"]


def test_a_dispatch_refusal_midway_ends_rejected_and_sends_no_order(fakes):
    steps, _ = fakes
    figures = {"risk": {"allowed": False, "order_cost": Decimal("12.50")}}
    steps.fail["size_position"] = [DispatchRejected("kill switch on", figures)]
    dispatch_chain("rec-killed")
    assert wait_for(lambda: steps.failures)[0][:2] == ("rec-killed", "rejected")
    assert steps.explains == [{"risk": {"allowed": False, "order_cost": "12.50"}}]  # JSON
    assert "submit_order" not in names(steps)


def test_after_the_last_retry_the_fallback_stands_in(fakes, celery_app, monkeypatch):
    steps, rt = fakes
    monkeypatch.setattr(celery_app.tasks["strikeflow.submit_order"], "max_retries", 1)
    steps.fail["submit_order"] = [BrokerUnavailable("submit", "down")] * 2
    result = dispatch_chain("rec-fallback").get(timeout=15, interval=POLL_S)
    assert result["order"] == {"mode": "SIMULATED", "client_order_id": "coid-rec-fallback"}
    assert names(steps)[-1] == "persist_execution"
    assert rt.fallback.intents == [{"client_order_id": "coid-rec-fallback"}]


def test_with_the_reject_policy_the_exhausted_order_ends_failed(fakes, celery_app, monkeypatch):
    steps, rt = fakes
    rt.fallback.simulate = False
    monkeypatch.setattr(celery_app.tasks["strikeflow.submit_order"], "max_retries", 1)
    steps.fail["submit_order"] = [BrokerUnavailable("submit", "down")] * 2
    dispatch_chain("rec-down")
    rid, kind, message = wait_for(lambda: steps.failures)[0]
    assert (rid, kind) == ("rec-down", "failed")
    assert "BrokerUnavailable" in message


def test_the_dispatch_entry_point_stores_a_manual_signal_and_sends_its_chain(fakes, celery_app):
    steps, rt = fakes
    sent = celery_app.tasks["strikeflow.dispatch"].delay(
        ticker="aapl", action="BUY", instrument="CALL", confidence=0.7
    )
    out = sent.get(timeout=15, interval=POLL_S)
    assert out["sent"] is True
    rid = out["recommendation_id"]
    assert rt.recommendations.get(rid).ticker == "AAPL"
    assert RecommendationStatus.DISPATCHED in rt.recommendations.statuses[rid]
    wait_for(lambda: "persist_execution" in names(steps))
    assert steps.calls[0] == ("fetch_chain", {"recommendation_id": rid})


def test_a_terminal_recommendation_is_not_sent_again(fakes, celery_app):
    steps, rt = fakes
    done = replace(manual_recommendation("MSFT", "SELL"), status=RecommendationStatus.EXECUTED)
    rt.recommendations.insert(done)
    out = celery_app.tasks["strikeflow.dispatch"].delay(done.id).get(timeout=15, interval=POLL_S)
    assert out == {"recommendation_id": done.id, "status": "executed", "sent": False}
    assert steps.calls == []


class _Request:
    def __init__(self, args=(), kwargs=None):
        self.args, self.kwargs, self.task = args, kwargs or {}, "strikeflow.x"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (_Request(("rec-1",)), "rec-1"),
        (_Request(({"recommendation_id": "rec-2", "spot": "1"},)), "rec-2"),
        (_Request((), {"payload": {"recommendation_id": "rec-3"}}), "rec-3"),
        (_Request(({"no": "id"},)), None),
        (_Request(()), None),
    ],
)
def test_the_errback_finds_the_recommendation_id(request_, expected):
    assert recommendation_id_of(request_) == expected


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (DispatchRejected("over the limit"), "rejected"),
        (OrderRejected("submit", 403, 1, "no"), "rejected"),
        (BrokerUnavailable("submit", "down"), "failed"),
        (RuntimeError("bug"), "failed"),
    ],
)
def test_failure_kinds(exc, kind):
    assert failure_kind(exc) == kind


@pytest.mark.parametrize(
    "exc",
    [
        OrderRejected("submit", 403, 40310000, "insufficient buying power"),
        BrokerUnavailable("submit", "timed out", 503),
        DispatchRejected("kill switch on", {"at": "10:00"}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_domain_errors_survive_the_pickling_celery_does_before_errbacks(exc):
    from celery.utils.serialization import get_pickleable_exception

    kept = get_pickleable_exception(exc)
    assert type(kept) is type(exc)
    assert str(kept) == str(exc)


@pytest.mark.parametrize("step", ["fetch_chain", "size_position", "submit_order"])
def test_a_database_that_cannot_be_reached_is_retried_not_failed(fakes, backoffs, step):
    steps, _ = fakes
    steps.fail[step] = [StoreUnavailable("get_recommendation", "connection refused")] * 2
    result = dispatch_chain(f"rec-db-{step}").get(timeout=30, interval=POLL_S)
    assert result["trail"] == list(STEPS)
    assert names(steps).count(step) == 3
    assert steps.failures == []
    assert [asked["retries"] for asked in backoffs] == [0, 1]
    assert all(asked["factor"] == 1 and asked["full_jitter"] for asked in backoffs)


def test_store_unavailable_survives_pickling_and_counts_as_failed():
    from celery.utils.serialization import get_pickleable_exception

    down = StoreUnavailable("upsert_execution", "server closed the connection")
    kept = get_pickleable_exception(down)
    assert type(kept) is StoreUnavailable
    assert str(kept) == "database unavailable during upsert_execution: server closed the connection"
    assert failure_kind(kept) == "failed"


def test_only_the_last_step_stores_its_result_and_every_step_has_the_errback(celery_app):
    steps = chain_for("rec-chain", celery_app).tasks
    assert [s.task for s in steps] == [f"strikeflow.{name}" for name in STEPS]
    assert steps[0].args == ("rec-chain",)
    assert [bool(s.options.get("ignore_result")) for s in steps] == [True] * 5 + [False]
    assert all(
        [e["task"] for e in s.options["link_error"]] == ["strikeflow.on_step_failure"]
        for s in steps
    )


def test_every_step_shows_its_recommendation_id_not_a_repr_of_the_payload(celery_app):
    """The argsrepr of each step (events, Flower, the worker log) is set when the chain
    is built; left to Celery it would be a repr of the whole payload, on every hop."""
    steps = chain_for("rec-shown", celery_app).tasks
    assert steps[0].options["argsrepr"] == "('rec-shown',)"
    assert [s.options["argsrepr"] for s in steps[1:]] == [
        "({'recommendation_id': 'rec-shown', ...},)"
    ] * 5


def test_a_step_result_repr_is_bounded():
    from celery.utils.saferepr import saferepr

    from strikeflow.workers.app import app

    task = app.tasks["strikeflow.size_position"]
    payload = {"recommendation_id": "rec-1", "chain": ["x" * 50] * 200}
    shown = saferepr(payload, task.resultrepr_maxsize)
    assert shown.startswith("{'recommendation_id': 'rec-1'")
    assert len(shown) < 400 < len(repr(payload))
