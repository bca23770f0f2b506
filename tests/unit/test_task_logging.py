"""Expected refusals log as outcomes, the unexpected as errors.

Celery decides a failed task's log line from the task's ``throws``: one of them is
logged once at INFO with no traceback ("raised expected"), anything else at ERROR with
its traceback. The chain's errback adds no line of its own above DEBUG for a refusal,
and still sends the terminal record. (tests/integration/test_pipeline.py reads a real
worker's log for the same.)"""

from __future__ import annotations

import logging

import pytest
from billiard.einfo import ExceptionInfo
from celery.app.trace import get_log_policy, log_policy_expected, log_policy_unexpected

import strikeflow.tasks  # noqa: F401  (registers the tasks)
from strikeflow.domain.errors import (
    BrokerUnavailable,
    DispatchRejected,
    InvalidRecord,
    NoEligibleContract,
    OrderRejected,
    SizingError,
    StoreUnavailable,
)
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.messages import IncompatibleMessage, encode
from strikeflow.tasks.chains import STEPS
from strikeflow.tasks.entry import on_step_failure
from strikeflow.workers.app import app
from strikeflow.workers.startup import binding_for
from tests.unit import step_messages
from tests.unit.memory_celery import memory_current_app

REFUSALS = [
    DispatchRejected("risk: kill switch on", {"risk": {"allowed": False}}),
    OrderRejected("submit", 403, 40310000, "insufficient buying power"),
    NoEligibleContract({"outside 0–1 DTE": 4}, 4, reason="no NVDA expiry within 0–1 DTE"),
    SizingError("confidence must be in [0, 1]"),
    InvalidRecord("ticker", "is empty"),
    IncompatibleMessage("a schema 1 PriceChecked message from another release"),
]
FAULTS = [
    BrokerUnavailable("submit", "timed out", 503),
    StoreUnavailable("get_recommendation", "connection refused"),
    RuntimeError("a bug"),
    KeyError("spot"),
]
TASKS = [*STEPS, "strikeflow.dispatch", "strikeflow.scan"]


def policy_for(task_name: str, exc: BaseException):
    try:
        raise exc
    except BaseException:
        einfo = ExceptionInfo()
    return get_log_policy(app.tasks[task_name], einfo, exc)


@pytest.mark.parametrize("task_name", TASKS)
@pytest.mark.parametrize("exc", REFUSALS, ids=lambda e: type(e).__name__)
def test_a_refusal_is_logged_as_expected_at_info_without_a_traceback(task_name, exc):
    policy = policy_for(task_name, exc)
    assert policy is log_policy_expected
    assert (policy.severity, policy.traceback) == (logging.INFO, 0)


@pytest.mark.parametrize("task_name", TASKS)
@pytest.mark.parametrize("exc", FAULTS, ids=lambda e: type(e).__name__)
def test_anything_else_is_an_error_with_its_traceback(task_name, exc):
    policy = policy_for(task_name, exc)
    assert policy is log_policy_unexpected
    assert (policy.severity, policy.traceback) == (logging.ERROR, 1)


class _Request:
    """What Celery hands an errback: the failed step's name and arguments (size_position's
    is a PriceChecked message)."""

    def __init__(self, rid: str, task: str = "strikeflow.size_position", message=None) -> None:
        selected = step_messages.contract_selected(step_messages.chain_fetched(rid))
        checked = encode(step_messages.price_checked(selected))
        self.args, self.kwargs, self.task = (message or checked,), {}, task


def run_errback(exc: BaseException, rid: str, message: dict | None = None) -> tuple[list, tuple]:
    """The errback on the memory transport: the record_failure message it sent."""
    with memory_current_app("strikeflow-errback-logs") as memory:
        on_step_failure(_Request(rid, message=message), exc, None)
        with memory.connection_for_write() as conn:
            queue = conn.SimpleQueue("persistence")
            message = queue.get(timeout=5)
            args = message.payload[0]
            message.ack()
            queue.close()
    return args


def test_the_errback_adds_no_line_for_a_refusal_and_still_records_it(caplog):
    caplog.set_level(logging.DEBUG, logger="strikeflow.tasks.entry")
    refused = DispatchRejected("risk: kill switch on", {"risk": {"allowed": False}})
    rid, kind, message, explain = run_errback(refused, "rec-refused")
    assert (rid, kind) == ("rec-refused", "rejected")
    assert message == "strikeflow.size_position: DispatchRejected: risk: kill switch on"
    assert explain == {"risk": {"allowed": False}}
    ours = [r for r in caplog.records if r.name == "strikeflow.tasks.entry"]
    assert [r.levelno for r in ours] == [logging.DEBUG]
    assert all(r.exc_info is None for r in ours)


def test_the_errback_warns_that_a_fault_is_being_recorded(caplog):
    caplog.set_level(logging.DEBUG, logger="strikeflow.tasks.entry")
    rid, kind, message, _ = run_errback(RuntimeError("a bug"), "rec-broken")
    assert (rid, kind, message) == (
        "rec-broken",
        "failed",
        "strikeflow.size_position: RuntimeError: a bug",
    )
    ours = [r for r in caplog.records if r.name == "strikeflow.tasks.entry"]
    assert [r.levelno for r in ours] == [logging.WARNING]
    assert "rec-broken" in ours[0].getMessage()


def test_a_message_from_another_release_is_recorded_failed_in_one_warning(caplog):
    """Release 0.1.0's payload (no ``version``) still names its recommendation: it is
    recorded against it, failed (this release could not read it; nothing refused the
    trade), in one WARNING line and without a traceback (Celery's line is INFO)."""
    caplog.set_level(logging.DEBUG, logger="strikeflow.tasks.entry")
    old = {"recommendation_id": "rec-old", "spot": "100.00", "trade": "CALL"}
    refused = IncompatibleMessage("a schema 1 PriceChecked message from another release")
    rid, kind, message, explain = run_errback(refused, "rec-old", message=old)
    assert (rid, kind, explain) == ("rec-old", "failed", None)
    assert "schema 1" in message
    ours = [r for r in caplog.records if r.name == "strikeflow.tasks.entry"]
    assert [r.levelno for r in ours] == [logging.WARNING]
    assert all(r.exc_info is None for r in ours)


def test_a_first_steps_line_is_bound_to_its_recommendation():
    assert binding_for(("rec-first",)) == ("rec-first", client_order_id_for("rec-first"))
    assert binding_for(()) == ("-", "-")


@pytest.mark.parametrize("kind", [1, 3, 5], ids=["ContractSelected", "PriceChecked", "PlacedOrder"])
def test_every_steps_line_is_bound_to_the_recommendation_its_message_is_about(kind):
    message = encode(step_messages.every_message("rec-later")[kind])
    assert binding_for((message,)) == ("rec-later", client_order_id_for("rec-later"))
