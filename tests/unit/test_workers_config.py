"""The Celery configuration the issue demands, the routing of every task, and an app
that imports without connecting to anything."""

from __future__ import annotations

import pytest
from celery import Celery

import strikeflow.tasks  # noqa: F401  (registers the tasks)
from strikeflow.config import Settings
from strikeflow.domain.retry_budget import DEADLINE_S, FLOOR_S, RetryBudget
from strikeflow.tasks.budgeted import BudgetedTask
from strikeflow.tasks.pipeline import ORDER_RETRY, READ_RETRY, STORE_RETRY
from strikeflow.workers import config
from strikeflow.workers.config import celery_config, prefetch_for

ROUTED = {
    "strikeflow.fetch_chain": "marketdata",
    "strikeflow.snapshot_price": "marketdata",
    "strikeflow.select_contract": "dispatch",
    "strikeflow.size_position": "dispatch",
    "strikeflow.dispatch": "dispatch",
    "strikeflow.submit_order": "orders",
    "strikeflow.work_order": "orders",
    "strikeflow.persist_execution": "persistence",
    "strikeflow.record_failure": "persistence",
    "strikeflow.reconcile_orders": "persistence",
    "strikeflow.recover": "persistence",
    "strikeflow.sweep_stuck": "persistence",
    "strikeflow.cancel_stale_entries": "persistence",
    "strikeflow.check_positions": "persistence",
    "strikeflow.record_venue_events": "persistence",
    "strikeflow.quote_close": "marketdata",
    "strikeflow.size_close": "dispatch",
    "strikeflow.close": "dispatch",
    "strikeflow.manage_positions": "dispatch",
    "strikeflow.scan": "signals",
}


@pytest.fixture
def conf() -> dict:
    return celery_config(Settings())


@pytest.fixture
def app(conf) -> Celery:
    app = Celery("strikeflow-config-test", set_as_current=False)
    app.config_from_object(conf)
    app.finalize(auto=True)
    return app


def test_connections_default_to_the_local_redis_and_follow_the_environment(monkeypatch):
    assert celery_config(Settings())["broker_url"] == "redis://127.0.0.1:6379/0"
    assert celery_config(Settings())["result_backend"] == "redis://127.0.0.1:6379/1"
    monkeypatch.setenv("STRIKEFLOW_BROKER_URL", "redis://broker.example:6380/3")
    monkeypatch.setenv("STRIKEFLOW_RESULT_BACKEND", "redis://results.example:6380/4")
    conf = celery_config()
    assert conf["broker_url"] == "redis://broker.example:6380/3"
    assert conf["result_backend"] == "redis://results.example:6380/4"


def test_json_is_the_only_serialization(conf):
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["accept_content"] == conf["result_accept_content"] == ["json"]


def test_reliability_settings(conf):
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is False
    orders = conf["task_annotations"]["strikeflow.submit_order"]
    assert orders["reject_on_worker_lost"] is False
    assert orders["acks_late"] is True
    # A step cut off when Redis goes away is not saved by cancelling it: its message waits
    # out the visibility timeout either way (docs/operations.md, Reliability).
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is False
    assert conf["broker_connection_retry_on_startup"] is True
    assert conf["worker_send_task_events"] is True
    assert conf["task_send_sent_event"] is True


def test_the_visibility_timeout_is_explicit_and_far_above_every_countdown_and_limit(conf):
    visibility = conf["broker_transport_options"]["visibility_timeout"]
    assert visibility == config.VISIBILITY_TIMEOUT_S
    assert conf["result_backend_transport_options"]["visibility_timeout"] == visibility
    # one retry's countdown, and a whole retry budget at its longest, far below it
    assert RetryBudget().cap_s * 10 <= visibility
    fields = Settings.model_fields["retry_deadline_s"].metadata
    longest = next(m.le for m in fields if getattr(m, "le", None))
    assert longest * 5 <= visibility
    assert Settings(retry_deadline_s=longest).retry_deadline_s == longest
    orders = conf["task_annotations"]["strikeflow.submit_order"]
    for limit in (conf["task_time_limit"], orders["time_limit"]):
        assert limit * 5 < visibility


def test_time_limits_exceed_the_http_timeouts(conf):
    settings = Settings()
    http = settings.alpaca_connect_timeout_s + settings.alpaca_read_timeout_s
    assert http <= config.HTTP_CALL_BUDGET_S
    orders = conf["task_annotations"]["strikeflow.submit_order"]
    # a submit is a lookup and a submit; a chain read may take a few pages
    assert orders["soft_time_limit"] > 2 * http
    assert conf["task_soft_time_limit"] > 3 * http
    assert conf["task_time_limit"] > conf["task_soft_time_limit"]
    assert orders["time_limit"] > orders["soft_time_limit"]


def test_submit_order_retries_only_the_unreachable_venue_or_database():
    """Both are transient and change nothing (the same client_order_id is sent again);
    anything else, a refusal above all, is never retried."""
    from strikeflow.domain.errors import BrokerUnavailable, StoreUnavailable

    assert ORDER_RETRY["autoretry_for"] == (BrokerUnavailable, StoreUnavailable)
    assert ORDER_RETRY["base"] is BudgetedTask


def test_every_task_that_retries_is_budgeted_in_time_not_attempts(app):
    retrying = {
        name
        for name, task in app.tasks.items()
        if name.startswith("strikeflow.") and getattr(task, "autoretry_for", ())
    }
    assert {"strikeflow.persist_execution", "strikeflow.record_failure"} <= retrying
    retrying |= {"strikeflow.scan", "strikeflow.manage_positions"}  # explicit self.retry
    for name in retrying:
        task = app.tasks[name]
        assert isinstance(task, BudgetedTask), name
        assert task.max_retries is None, name
        assert not getattr(task, "retry_backoff", False), name  # Celery's backoff unused
    for policy in (READ_RETRY, ORDER_RETRY, STORE_RETRY):
        assert policy["base"] is BudgetedTask


@pytest.mark.parametrize(("task", "queue"), sorted(ROUTED.items()))
def test_every_task_goes_to_its_queue(app, task, queue):
    assert task in app.tasks
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_the_five_queues_are_declared(app):
    names = {q.name for q in app.conf.task_queues}
    assert names == {"marketdata", "dispatch", "orders", "persistence", "signals"}
    assert app.conf.task_default_queue in names


def test_every_strikeflow_task_is_routed_explicitly(app):
    ours = {name for name in app.tasks if name.startswith("strikeflow.")}
    # the errback runs inline in the failing worker (Celery calls it, never a queue)
    assert ours - {"strikeflow.on_step_failure"} == set(ROUTED)


def test_a_worker_taking_orders_prefetches_one():
    assert prefetch_for({"orders"}) == 1
    assert prefetch_for({"marketdata", "orders"}) == 1
    assert prefetch_for(None) == 1
    assert prefetch_for({"marketdata", "dispatch"}) == config.PREFETCH_MULTIPLIER > 1


def test_the_retry_budget_comes_from_settings_for_every_task():
    default = celery_config(Settings())["task_annotations"]["*"]
    assert default == {"retry_deadline_s": DEADLINE_S, "retry_floor_s": FLOOR_S}
    assert (
        "max_retries"
        not in celery_config(Settings())["task_annotations"]["strikeflow.submit_order"]
    )
    app = Celery("sf-retries", set_as_current=False)
    app.config_from_object(celery_config(Settings(retry_deadline_s=30, retry_floor_s=2)))
    app.loader.import_default_modules()
    import strikeflow.tasks.pipeline as pipeline_tasks

    for task in (pipeline_tasks.submit_order, pipeline_tasks.persist_execution):
        bound = app.tasks[task.name]
        assert (bound.retry_deadline_s, bound.retry_floor_s) == (30, 2)
        assert bound.retry_budget() == RetryBudget(deadline_s=30, floor_s=2)
