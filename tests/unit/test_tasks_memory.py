"""The tasks on a real in-process Celery worker over the memory:// transport (no eager
mode): the chain's order, retries on BrokerUnavailable only, the fallback after the
last retry, re-selection, a message from another release, and the errback that leaves
a terminal record. The step functions (``services.dispatch_steps`` and
``outcomes``) are hand-written fakes returning real messages
(``tests.unit.step_messages``); the tasks' decoding, encoding and wiring around them
are the real thing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery

import strikeflow.tasks  # noqa: F401  (registers the tasks)
from strikeflow import bootstrap
from strikeflow.domain.enums import BrokerName, ExecutionMode, ExecutionStatus, RecommendationStatus
from strikeflow.domain.errors import (
    BrokerUnavailable,
    DispatchRejected,
    OrderRejected,
    StoreUnavailable,
)
from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.retry_budget import DEADLINE_S, next_countdown
from strikeflow.services import dispatch_steps, outcomes
from strikeflow.services.dispatch_policy import DispatchContext, client_order_id_for
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.services.messages import (
    ChainFetched,
    ContractSelected,
    ExecutionRecorded,
    IncompatibleMessage,
    Message,
    PlacedOrder,
    PriceChecked,
    Refusal,
    Reselection,
    SizedOrder,
    decode,
    encode,
)
from strikeflow.services.outcomes import failure_kind
from strikeflow.tasks import budgeted, chains
from strikeflow.tasks.chains import chain_for, dispatch_chain
from strikeflow.tasks.entry import recommendation_id_of
from tests.integration.record_factories import recommendation
from tests.unit import step_messages as build
from tests.unit.factories import NOW
from tests.unit.fakes_dispatch import FakeStore, make_context
from tests.unit.memory_celery import POLL_S, memory_config, memory_worker

STEPS = (
    "fetch_chain",
    "select_contract",
    "snapshot_price",
    "size_position",
    "submit_order",
    "persist_execution",
)
# The step whose message each step is handed.
HANDED_BY = dict(zip(STEPS[1:], STEPS, strict=False))


@dataclass
class Call:
    """One call of a fake step: what it was handed, and what it returned (None: it raised)."""

    name: str
    handed: Any
    returned: Message | None = None


class FakeSteps:
    """The step functions the tasks call, with their signatures. Each records what it was
    handed and returns the next real message, made from it (``tests.unit.step_messages``);
    ``fail`` makes a step raise the given exceptions in turn (None: that call runs), and
    ``reselect`` makes
    snapshot_price decide that many re-selections first. ``record_failure`` records each
    terminal record, then writes it as the real one does (into the runtime's FakeStore)."""

    def __init__(self, record_failure: Callable[..., None]) -> None:
        self.calls: list[Call] = []
        self.reselections: list[Reselection] = []  # what fetch_chain was handed again
        self.failures: list[tuple[str, str, str]] = []
        self.explains: list[dict | None] = []
        self.fail: dict[str, list[BaseException | None]] = {}
        self.reselect = 0
        self.refusals = 0  # the next submits the venue refuses (a PlacedOrder's refusal)
        self.lock = threading.Lock()
        self._write_failure = record_failure

    def _step(self, name: str, handed: Any, make: Callable[[], Message]) -> Any:
        with self.lock:
            call = Call(name, handed)
            self.calls.append(call)
            queued = self.fail.get(name)
            error = queued.pop(0) if queued else None
            if error is not None:
                raise error
            call.returned = make()
            return call.returned

    def fetch_chain(
        self, ctx, recommendation_id: str, reselection: Reselection | None = None
    ) -> ChainFetched:
        if reselection is not None:
            self.reselections.append(reselection)
        fetched = lambda: build.chain_fetched(recommendation_id, reselection)  # noqa: E731
        return self._step("fetch_chain", recommendation_id, fetched)

    def select_contract(self, ctx, fetched: ChainFetched) -> ContractSelected:
        return self._step("select_contract", fetched, lambda: build.contract_selected(fetched))

    def snapshot_price(self, ctx, selected: ContractSelected) -> PriceChecked | Reselection:
        def checked() -> PriceChecked | Reselection:
            if self.reselect:
                self.reselect -= 1
                return build.reselection(selected)
            return build.price_checked(selected)

        return self._step("snapshot_price", selected, checked)

    def size_position(self, ctx, checked: PriceChecked) -> SizedOrder:
        return self._step("size_position", checked, lambda: build.sized_order(checked))

    def submit_order(self, ctx, sized: SizedOrder) -> PlacedOrder:
        def placed() -> PlacedOrder:
            if self.refusals:  # the venue's no, as the real step returns it
                self.refusals -= 1
                refusal = Refusal(error="OrderRejected: insufficient buying power", status=403)
                return build.placed_order(sized).model_copy(update={"refusal": refusal})
            return build.placed_order(sized)

        return self._step("submit_order", sized, placed)

    def persist_execution(self, ctx, placed: PlacedOrder) -> ExecutionRecorded:
        return self._step("persist_execution", placed, lambda: build.execution_recorded(placed))

    def record_failure(
        self, ctx, recommendation_id: str, kind: str, message: str, explain=None
    ) -> None:
        with self.lock:
            self.failures.append((recommendation_id, kind, message))
            self.explains.append(explain)
        self._write_failure(ctx, recommendation_id, kind, message, explain)


class FakeFallback:
    """FallbackBroker.fall_back: simulate (a filled SIMULATED order) or re-raise (reject)."""

    def __init__(self, simulate: bool = True) -> None:
        self.simulate = simulate
        self.intents: list[Any] = []

    def fall_back(self, intent, failure) -> BrokerOrder:
        self.intents.append(intent)
        if not self.simulate:
            raise failure
        return BrokerOrder(
            id=f"sim-{intent.client_order_id}",
            client_order_id=intent.client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            qty=intent.qty,
            order_type=intent.order_type,
            status=ExecutionStatus.FILLED,
            broker_status="filled",
            broker=BrokerName.SIMULATED,
            execution_mode=ExecutionMode.SIMULATED,
            filled_qty=intent.qty,
            filled_avg_price=Decimal("100.05"),
            simulated_reason=f"broker unavailable: {failure}",
        )


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


def dispatch_context() -> DispatchContext:
    return make_context()[0]


@dataclass
class FakeRuntime:
    context: DispatchContext = field(default_factory=dispatch_context)
    fallback: FakeFallback = field(default_factory=FakeFallback)
    recommendations: FakeRecommendations = field(default_factory=FakeRecommendations)

    @property
    def store(self) -> FakeStore:
        return self.context.store


@pytest.fixture(scope="module")
def celery_app() -> Iterator[Celery]:
    app = Celery("strikeflow-memory-test", set_as_current=False)
    app.config_from_object(memory_config(result_backend="cache+memory://"))
    app.set_current()
    app.set_default()
    with memory_worker(app):
        yield app


@pytest.fixture
def fakes(monkeypatch, celery_app) -> Iterator[tuple[FakeSteps, FakeRuntime]]:
    steps, rt = FakeSteps(outcomes.record_failure), FakeRuntime()
    for name in STEPS[:-1]:
        monkeypatch.setattr(dispatch_steps, name, getattr(steps, name))
    monkeypatch.setattr(outcomes, "persist_execution", steps.persist_execution)
    monkeypatch.setattr(outcomes, "record_failure", steps.record_failure)
    bootstrap.install_runtime(rt)
    yield steps, rt
    bootstrap.reset_runtime()


@dataclass
class Backoffs:
    """What each retry asked the retry budget, and the budget shortened: the real policy
    decides whether to retry, then the wait is milliseconds instead of seconds.
    ``spent_after`` retries, the budget counts as spent (its deadline reached)."""

    asked: list[dict] = field(default_factory=list)
    spent_after: int | None = None

    def countdown(self, budget, deadline, now, attempt, draw) -> float | None:
        self.asked.append({"attempt": attempt, "deadline": deadline, "now": now})
        if self.spent_after is not None and attempt >= self.spent_after:
            return None
        wait = next_countdown(budget, deadline, now, attempt, draw)
        return None if wait is None else 0.01


@pytest.fixture(autouse=True)
def backoffs(monkeypatch) -> Backoffs:
    shortened = Backoffs()
    monkeypatch.setattr(budgeted, "next_countdown", shortened.countdown)
    return shortened


def wait_for(condition, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


def names(steps: FakeSteps) -> list[str]:
    return [call.name for call in steps.calls]


def handoffs(steps: FakeSteps) -> list[tuple[Any, Any]]:
    """For every step after the first: (what it was handed, what the step before it
    last returned). Equal pairs: each message reached the next step whole."""
    last: dict[str, Any] = {}
    pairs = []
    for call in steps.calls:
        if call.name in HANDED_BY:
            pairs.append((call.handed, last.get(HANDED_BY[call.name])))
        if call.returned is not None:
            last[call.name] = call.returned
    return pairs


def recorded(result: dict, steps: FakeSteps) -> ExecutionRecorded:
    """The chain's result, decoded; it is what persist_execution returned."""
    outcome = decode(ExecutionRecorded, result)
    assert outcome == steps.calls[-1].returned
    return outcome


def test_the_chain_runs_every_step_in_order(fakes):
    steps, _ = fakes
    result = dispatch_chain("rec-ok").get(timeout=15, interval=POLL_S)
    assert recorded(result, steps).recommendation_id == "rec-ok"
    assert names(steps) == list(STEPS)
    assert len(handoffs(steps)) == 5
    assert all(handed == returned for handed, returned in handoffs(steps))
    assert steps.failures == []


def test_submit_order_retries_broker_unavailable_with_the_same_message(fakes):
    steps, rt = fakes
    steps.fail["submit_order"] = [BrokerUnavailable("submit", "timed out")]
    result = dispatch_chain("rec-retry").get(timeout=15, interval=POLL_S)
    submits = [call.handed for call in steps.calls if call.name == "submit_order"]
    assert len(submits) == 2
    assert submits[0] == submits[1]
    assert submits[0].ticket.client_order_id == client_order_id_for("rec-retry")
    assert names(steps) == [*STEPS[:5], "submit_order", "persist_execution"]
    assert recorded(result, steps).recommendation_id == "rec-retry"
    assert rt.fallback.intents == []
    assert steps.failures == []


def test_a_refusal_heard_on_a_retry_is_asked_once_more_and_the_landed_order_wins(fakes):
    """The first submit timed out (it may yet land); its retry was refused: the same
    message goes once more, and the venue's order (the earlier attempt) is recorded."""
    steps, _ = fakes
    steps.fail["submit_order"] = [BrokerUnavailable("submit", "read timeout")]
    steps.refusals = 1
    result = dispatch_chain("rec-landed").get(timeout=15, interval=POLL_S)
    submits = [call for call in steps.calls if call.name == "submit_order"]
    assert len(submits) == 3
    assert submits[0].handed == submits[1].handed == submits[2].handed
    assert submits[2].returned.refusal is None
    assert recorded(result, steps).recommendation_id == "rec-landed"


def test_a_refusal_heard_twice_on_retries_is_recorded(fakes):
    steps, _ = fakes
    steps.fail["submit_order"] = [BrokerUnavailable("submit", "read timeout")]
    steps.refusals = 2
    dispatch_chain("rec-refused-twice").get(timeout=15, interval=POLL_S)
    submits = [call for call in steps.calls if call.name == "submit_order"]
    assert len(submits) == 3  # asked again once, not more
    persisted = [call for call in steps.calls if call.name == "persist_execution"]
    assert persisted[-1].handed.refusal is not None  # recorded as the venue's no


def test_a_refusal_on_a_first_attempt_is_recorded_at_once(fakes):
    steps, _ = fakes
    steps.refusals = 1
    dispatch_chain("rec-refused-once").get(timeout=15, interval=POLL_S)
    assert [call.name for call in steps.calls].count("submit_order") == 1


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


def test_once_the_retry_budget_is_spent_the_fallback_stands_in(fakes, backoffs):
    steps, rt = fakes
    backoffs.spent_after = 1
    steps.fail["submit_order"] = [BrokerUnavailable("submit", "down")] * 2
    result = dispatch_chain("rec-fallback").get(timeout=15, interval=POLL_S)
    outcome = recorded(result, steps)
    coid = client_order_id_for("rec-fallback")
    assert (outcome.execution_mode, outcome.client_order_id) == ("SIMULATED", coid)
    assert names(steps)[-1] == "persist_execution"
    assert steps.calls[-1].handed.order.execution_mode is ExecutionMode.SIMULATED
    assert [intent.client_order_id for intent in rt.fallback.intents] == [coid]


def test_with_the_reject_policy_the_exhausted_order_ends_failed(fakes, backoffs):
    steps, rt = fakes
    rt.fallback.simulate = False
    backoffs.spent_after = 1
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
    assert (steps.calls[0].name, steps.calls[0].handed) == ("fetch_chain", rid)


def test_a_terminal_recommendation_is_not_sent_again(fakes, celery_app):
    steps, rt = fakes
    done = replace(manual_recommendation("MSFT", "SELL"), status=RecommendationStatus.EXECUTED)
    rt.recommendations.insert(done)
    out = celery_app.tasks["strikeflow.dispatch"].delay(done.id).get(timeout=15, interval=POLL_S)
    assert out == {"recommendation_id": done.id, "status": "executed", "sent": False}
    assert steps.calls == []


def test_a_price_move_reselects_and_the_chain_still_ends_with_persist_execution(fakes):
    """snapshot_price's Reselection replaces the task with fetch_chain → select_contract
    → snapshot_price (``chains.reselection_chain``); the rest of the chain follows them,
    and its result is still persist_execution's."""
    steps, _ = fakes
    steps.reselect = 1
    result = dispatch_chain("rec-moved").get(timeout=15, interval=POLL_S)
    assert names(steps) == [*STEPS[:3], *STEPS]
    assert recorded(result, steps).recommendation_id == "rec-moved"
    [again] = steps.reselections
    assert again == steps.calls[2].returned  # snapshot_price's decision, whole
    assert (again.recommendation_id, again.reselects) == ("rec-moved", 1)
    assert all(handed == returned for handed, returned in handoffs(steps))
    placed = steps.calls[-1].handed
    assert placed.sized.notes.price_checks == again.notes.price_checks  # on record
    assert len(placed.sized.notes.price_checks) == 1
    assert steps.failures == []


def test_a_step_failing_after_a_reselection_records_its_failure_once(fakes, celery_app):
    steps, _ = fakes
    steps.reselect = 1
    steps.fail["select_contract"] = [None, DispatchRejected("no eligible contract now")]
    dispatch_chain("rec-moved-then-refused")
    wait_for(lambda: steps.failures)
    # Every errback of the failed step had sent its record before the first one ran (the
    # solo worker runs them inline): one more record on the same queue runs after them.
    record = celery_app.tasks["strikeflow.record_failure"]
    record.delay("rec-later", "rejected", "a later record").get(timeout=15, interval=POLL_S)
    assert names(steps) == [*STEPS[:3], *STEPS[:2]]
    assert [rid for rid, _, _ in steps.failures] == ["rec-moved-then-refused", "rec-later"]


def test_a_message_from_another_release_ends_rejected_and_the_worker_keeps_running(
    fakes, celery_app
):
    """A step handed release 0.1.0's payload (a dict with no ``version``) refuses it in
    ``decode``: the recommendation ends failed with a reason naming the version, and
    the next chain runs on the same worker."""
    steps, rt = fakes
    rid = "rec-old-release"
    dispatched = {"status": RecommendationStatus.DISPATCHED}  # its chain is running
    rt.store.add(recommendation(rid, ticker="XYZ", created_at=NOW, updated_at=NOW, **dispatched))
    old = {"recommendation_id": rid, "ticker": "XYZ", "spot": "100.00", "trade": "CALL"}
    step = celery_app.signature(chains.SELECT_CONTRACT, args=(old,))
    step.link_error(celery_app.signature(chains.ON_STEP_FAILURE))
    step.apply_async()

    [(failed, kind, message)] = wait_for(lambda: steps.failures)
    assert (failed, kind) == (rid, "failed")
    assert "IncompatibleMessage" in message
    assert "schema 1" in message
    assert "select_contract" in message
    assert steps.calls == []  # refused before the step ran
    rec = rt.store.recs[rid]
    assert rec.status is RecommendationStatus.FAILED
    assert "schema 1" in rec.status_reason
    result = dispatch_chain("rec-after-the-old-one").get(timeout=15, interval=POLL_S)
    assert recorded(result, steps).recommendation_id == "rec-after-the-old-one"


class _Request:
    def __init__(self, args=(), kwargs=None):
        self.args, self.kwargs, self.task = args, kwargs or {}, "strikeflow.x"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (_Request(("rec-1",)), "rec-1"),
        (_Request(({"recommendation_id": "rec-2", "spot": "1"},)), "rec-2"),
        (_Request((), {"message": {"recommendation_id": "rec-3"}}), "rec-3"),
        (_Request((encode(build.chain_fetched("rec-4")),)), "rec-4"),
        (_Request((encode(build.every_message("rec-5")[5]),)), "rec-5"),  # PlacedOrder
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
        (IncompatibleMessage("a schema 1 ChainFetched message from another release"), "failed"),
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
        IncompatibleMessage("a schema 1 SizedOrder message from another release"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_domain_errors_survive_the_pickling_celery_does_before_errbacks(exc):
    from celery.utils.serialization import get_pickleable_exception

    kept = get_pickleable_exception(exc)
    assert type(kept) is type(exc)
    assert str(kept) == str(exc)


@pytest.mark.parametrize(
    "step", ["fetch_chain", "size_position", "submit_order", "persist_execution"]
)
def test_a_database_that_cannot_be_reached_is_retried_not_failed(fakes, backoffs, step):
    steps, _ = fakes
    steps.fail[step] = [StoreUnavailable("get_recommendation", "connection refused")] * 2
    result = dispatch_chain(f"rec-db-{step}").get(timeout=30, interval=POLL_S)
    assert recorded(result, steps).recommendation_id == f"rec-db-{step}"
    assert [name for name in names(steps) if name != step] == [s for s in STEPS if s != step]
    assert all(handed == returned for handed, returned in handoffs(steps))
    assert names(steps).count(step) == 3
    assert steps.failures == []
    assert [asked["attempt"] for asked in backoffs.asked] == [0, 1]
    # one deadline, set at the first failure and carried by the retried message
    first, second = backoffs.asked
    assert first["deadline"] == second["deadline"]
    assert 0 < first["deadline"] - first["now"] <= DEADLINE_S


def test_a_database_down_past_the_retry_budget_ends_failed_and_recorded(fakes, backoffs):
    steps, _ = fakes
    steps.fail["fetch_chain"] = [StoreUnavailable("get_recommendation", "refused")] * 3
    backoffs.spent_after = 2
    dispatch_chain("rec-db-gone")
    rid, kind, message = wait_for(lambda: steps.failures)[0]
    assert (rid, kind) == ("rec-db-gone", "failed")
    assert "StoreUnavailable" in message
    assert names(steps) == ["fetch_chain"] * 3
    assert [asked["attempt"] for asked in backoffs.asked] == [0, 1, 2]
    assert len({asked["deadline"] for asked in backoffs.asked}) == 1


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
    assert [s.task for s in steps] == list(chains.STEPS)
    assert steps[0].args == ("rec-chain",)
    assert [bool(s.options.get("ignore_result")) for s in steps] == [True] * 5 + [False]
    assert all(
        [e["task"] for e in s.options["link_error"]] == ["strikeflow.on_step_failure"]
        for s in steps
    )


def test_every_step_shows_its_recommendation_id_not_a_repr_of_the_message(celery_app):
    """The argsrepr of each step (events, Flower, the worker log) is set when the chain
    is built; left to Celery it would be a repr of the whole message, on every hop."""
    steps = chain_for("rec-shown", celery_app).tasks
    assert steps[0].options["argsrepr"] == "('rec-shown',)"
    assert [s.options["argsrepr"] for s in steps[1:]] == [
        "({'recommendation_id': 'rec-shown', ...},)"
    ] * 5


def test_a_step_result_repr_is_bounded():
    from celery.utils.saferepr import saferepr

    from strikeflow.workers.app import app
    from tests.unit.factories import contract

    task = app.tasks["strikeflow.size_position"]
    listed = tuple(contract(80 + k / 4) for k in range(200))
    message = encode(build.chain_fetched("rec-1").model_copy(update={"chain": listed}))
    shown = saferepr(message, task.resultrepr_maxsize)
    assert shown.startswith("{'version': 2, 'ticket': {'recommendation_id': 'rec-1'")
    assert len(shown) < 400 < len(repr(message))
