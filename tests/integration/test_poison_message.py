"""Poison messages on a real worker: refused, recorded, and the queue moves on.

One worker subprocess with a single process takes every pipeline queue (the Redis dbs
of this test process, PostgreSQL, the emulator), so a message that blocked or
killed it would stop everything behind it. Each poison is followed by a good signal,
which must end executed. Then a Hypothesis sample of generated payloads goes to
``strikeflow.dispatch`` through the broker: each ends FAILURE with an InvalidRecord
naming its field, or as a stored recommendation, and the worker lives through them all.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis
from celery.result import AsyncResult
from hypothesis import given, settings
from sqlalchemy import func, select

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.db.tables import dispatch_executions, recommendations
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.workers.messages import MAX_BODY_BYTES, MAX_DEPTH, body_problem
from tests.hypothesis_profiles import examples
from tests.integration.conftest import empty_tables, worker_dbs
from tests.integration.emulator import KEY, SECRET, poll
from tests.unit.test_bad_input_dispatch import FUZZ, payloads

MONDAY = datetime(2037, 11, 16, 10, 45, tzinfo=NEW_YORK)
JSON = "application/json"


def kwargs_text(kwargs_json: str, args_json: str = "[]") -> str:
    """A protocol 2 body as JSON text, its parts given as text (what json.dumps would
    not write: lone surrogates, NaN, nesting past its recursion limit)."""
    return f"[{args_json}, {kwargs_json}, null]"


# A dispatch whose ticker is an array 900 deep: JSON reads it, pickle (the pool) cannot.
DEEP_TICKER = kwargs_text('{"ticker": ' + "[" * 900 + '"MSFT"' + "]" * 900 + ', "action": "BUY"}')
HUGE_REASON = kwargs_text(
    '{"ticker": "MSFT", "action": "BUY", "reason": "' + "x" * 3_000_000 + '"}'
)
DBS = worker_dbs()
WORKER = WorkerSpec("sf-poison", ("marketdata", "dispatch", "orders", "persistence"))
DEADLINE_S = 30.0
WORKER_EXAMPLES = examples(150)


class Queue:
    """The fleet as a sender sees it: tasks by name, raw messages, results, the log."""

    def __init__(self, fleet: Fleet, url: str) -> None:
        self.fleet, self.url = fleet, url
        self.recommendations = RecommendationRepository(engine_for(url))
        self._ids = itertools.count(1)

    @property
    def worker(self):
        return self.fleet.workers[WORKER.name]

    def publish_raw(
        self, body: bytes | str, content_type: str = "application/json", **headers: object
    ) -> str:
        """A message with a task's headers (and ``headers``) and ``body`` as it stands, on
        the dispatch queue."""
        task_id = str(uuid.uuid4())
        with self.fleet.app.connection_for_write() as conn:
            conn.Producer().publish(
                body,
                routing_key="dispatch",
                content_type=content_type,
                content_encoding="utf-8" if content_type.endswith("json") else "binary",
                headers={"task": "strikeflow.dispatch", "id": task_id, "lang": "py", **headers},
            )
        return task_id

    def failed(self, task_id: str) -> str:
        """The FAILURE a task ended in, as text (waits for it)."""
        result = AsyncResult(task_id, app=self.fleet.app)
        poll(lambda: result.state, lambda state: state in ("FAILURE", "SUCCESS"), DEADLINE_S)
        assert result.state == "FAILURE", (result.state, result.result)
        return repr(result.result)

    def good_signal_executes(self) -> None:
        """A stored MSFT stock signal, sent through strikeflow.dispatch, ends executed."""
        rid = f"poison-good-{next(self._ids)}"
        self.recommendations.insert(manual_recommendation("MSFT", "BUY", recommendation_id=rid))
        self.fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})
        rec = poll(lambda: self.recommendations.get(rid), lambda r: r.status.terminal, DEADLINE_S)
        assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
        assert self.worker.alive(), self.fleet.report("the worker died")

    def log(self) -> str:
        return self.worker.log.read_text(errors="replace")

    def retries_of(self, task_id: str) -> int:
        return sum(task_id in line and " retry: " in line for line in self.log().splitlines())

    def stored(self) -> int:
        with engine_for(self.url).connect() as conn:
            return conn.execute(select(func.count()).select_from(recommendations)).scalar_one()

    def executions_of(self, rid: str) -> int:
        with engine_for(self.url).connect() as conn:
            query = select(func.count()).select_from(dispatch_executions)
            where = dispatch_executions.c.recommendation_id == rid
            return conn.execute(query.where(where)).scalar_one()

    def nothing_waiting(self) -> bool:
        """The broker holds no message for any queue, delivered-unacked ones included."""
        client = redis.Redis(host=DBS.host, port=DBS.port, db=DBS.broker)
        try:
            queued = sum(client.llen(q) for q in WORKER.queues)
            return queued == 0 and client.hlen("unacked") == 0
        finally:
            client.close()


@pytest.fixture(scope="module")
def queue(postgres_url, tmp_path_factory) -> Iterator[Queue]:
    DBS.flush()
    emulator = InProcessEmulator(
        EmulatorOptions(seed=42, start=MONDAY, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0)
    )
    emulator.start()
    config = FleetConfig(
        database_url=postgres_url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("poison-logs"),
        api_key=KEY,
        secret_key=SECRET,
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([WORKER])
        yield Queue(fleet, postgres_url)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


@pytest.fixture(autouse=True)
def empty(queue) -> None:
    """No executions left from earlier tests: their exposure would refuse the good signal."""
    empty_tables(queue.url)


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (json.dumps({"ticker": "MSFT"}), "application/json", "the body must be [args, kwargs"),
        (json.dumps([["MSFT"], {}]), "application/json", "the body must be [args, kwargs"),
        (json.dumps(["MSFT", {}, {}]), "application/json", "args must be a list"),
        (json.dumps([[], ["not", "an", "object"], {}]), "application/json", "kwargs must be"),
        ("not json{", "application/json", "undecodable body"),
        (b"\x80\x04K\x01.", "application/x-python-serialize", "untrusted content"),
        (DEEP_TICKER, "application/json", f"nested deeper than {MAX_DEPTH}"),
        (HUGE_REASON, "application/json", f"more than {MAX_BODY_BYTES}"),
        (kwargs_text('{"ticker": "MS\\ud800FT", "action": "BUY"}'), JSON, "lone surrogate"),
        (kwargs_text('{"ticker": "MSFT\\u0000", "action": "BUY"}'), JSON, "control character"),
        (kwargs_text('{"ticker": "MSFT", "action": "BUY", "confidence": NaN}'), JSON, "finite"),
        (kwargs_text('{"ticker": "MSFT", "confidence": 1e999}'), JSON, "not finite"),
        (kwargs_text('{"ticker": "MSFT", "x": 99999999999999999999}'), JSON, "64 bits"),
    ],
    ids=[
        "object",
        "two-items",
        "args-not-list",
        "kwargs-not-object",
        "not-json",
        "pickle",
        "ticker-900-deep",
        "huge-body",
        "lone-surrogate",
        "control-character",
        "nan",
        "infinity",
        "int-past-64-bits",
    ],
)
def test_a_malformed_message_is_refused_recorded_and_the_queue_moves_on(
    queue, body, content_type, why
):
    task_id = queue.publish_raw(body, content_type)

    assert why in queue.failed(task_id)  # FAILURE in the result backend, under its id
    queue.good_signal_executes()  # the same single worker process, still consuming
    assert f"refused strikeflow.dispatch message {task_id}" in queue.log()
    poll(queue.nothing_waiting, bool, DEADLINE_S)  # discarded: never redelivered


def record_failure_done(log: str, rid: str) -> bool:
    """Whether the worker's log says a record_failure about ``rid`` finished."""
    return any(
        f" rec={rid} " in line and "strikeflow.record_failure[" in line and "succeeded" in line
        for line in log.splitlines()
    )


def test_a_refused_message_that_names_a_recommendation_leaves_it_to_its_own_chain(queue):
    """Deep junk beside a stored recommendation's id: the message is refused before the
    pool, and its record_failure changes nothing on a recommendation no chain is running
    (pending: a message that names it is not its chain); its own dispatch still executes."""
    rid = "poison-named"
    queue.recommendations.insert(manual_recommendation("MSFT", "BUY", recommendation_id=rid))
    deep = "[" * 900 + "1" + "]" * 900
    task_id = queue.publish_raw(kwargs_text(f'{{"recommendation_id": "{rid}", "x": {deep}}}'))

    assert "nested deeper than" in queue.failed(task_id)
    poll(queue.log, lambda log: record_failure_done(log, rid), DEADLINE_S)
    assert queue.recommendations.get(rid).status is RecommendationStatus.PENDING
    assert queue.executions_of(rid) == 0  # never reached the pool, nor the venue
    queue.fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})
    rec = poll(lambda: queue.recommendations.get(rid), lambda r: r.status.terminal, DEADLINE_S)
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    queue.good_signal_executes()
    poll(queue.nothing_waiting, bool, DEADLINE_S)


def test_a_poisoned_header_is_refused_like_a_poisoned_body(queue):
    """Celery hands the headers to the pool beside the body: a header nested 900 deep
    would fail to pickle the same way."""
    deep: object = "x"
    for _ in range(900):
        deep = [deep]
    task_id = queue.publish_raw(kwargs_text('{"ticker": "MSFT", "action": "BUY"}'), x_extra=deep)

    assert "nested deeper than" in queue.failed(task_id)
    queue.good_signal_executes()
    poll(queue.nothing_waiting, bool, DEADLINE_S)


def test_a_storm_of_poison_kills_no_worker(queue, capsys):
    """Thirty of the poison that used to kill a worker each time, then a good signal."""
    pid = queue.worker.pid
    stored = queue.stored()
    ids = [queue.publish_raw(DEEP_TICKER) for _ in range(30)]
    for task_id in ids:
        assert "nested deeper than" in queue.failed(task_id)
    queue.good_signal_executes()
    assert queue.worker.pid == pid
    assert queue.worker.alive()
    assert "Unrecoverable error" not in queue.log()
    poll(queue.nothing_waiting, bool, DEADLINE_S)
    assert [queue.retries_of(task_id) for task_id in ids] == [0] * len(ids)
    with capsys.disabled():
        print(
            f"\npoison: {len(ids)} messages nested past the limit refused and marked failed,"
            f" rows added {queue.stored() - stored} (the good signal's), worker pid unchanged"
            " (no death), retries 0, nothing left on the queue"
        )


@pytest.mark.parametrize(
    ("task", "args", "kwargs", "error"),
    [
        ("strikeflow.fetch_chain", [12345], {}, "recommendation_id must be a string"),
        ("strikeflow.fetch_chain", ["a", "b", "c"], {}, "TypeError"),
        ("strikeflow.dispatch", [1, 2, 3], {}, "TypeError"),
        ("strikeflow.dispatch", [], {"recommendation_id": {"id": 1}}, "must be a string"),
        ("strikeflow.dispatch", [], {"ticker": "MSFT"}, "action is required"),
        ("strikeflow.persist_execution", ["not a payload"], {}, "TypeError"),
        ("strikeflow.record_failure", [1, 2], {}, "TypeError"),
    ],
    ids=["id-not-str", "extra-args", "dispatch-args", "id-object", "missing", "persist", "errback"],
)
def test_arguments_a_task_cannot_take_fail_at_once_and_block_nothing(
    queue, task, args, kwargs, error
):
    sent = queue.fleet.app.send_task(task, args=args, kwargs=kwargs)

    assert error in queue.failed(sent.id)
    assert queue.retries_of(sent.id) == 0  # a malformed argument is not retried
    queue.good_signal_executes()


def test_a_poison_step_of_a_chain_is_recorded_on_its_recommendation(queue):
    """A step given a payload of the wrong shape (say, from an older version) fails, and
    its errback, which finds the id in the payload, leaves the recommendation failed
    with a reason naming the message's version (release 0.1.0's payloads have none: 1)."""
    rid = "poison-chain-step"
    queue.recommendations.insert(manual_recommendation("SPY", "BUY", "CALL", recommendation_id=rid))
    # its chain is running: only then may a failure end it (record_failure)
    queue.recommendations.set_status(rid, RecommendationStatus.DISPATCHED)
    app = queue.fleet.app
    step = app.signature("strikeflow.select_contract", args=({"recommendation_id": rid},))
    step.link_error(app.signature("strikeflow.on_step_failure"))
    step.apply_async()

    rec = poll(lambda: queue.recommendations.get(rid), lambda r: r.status.terminal, DEADLINE_S)
    assert rec.status is RecommendationStatus.FAILED
    assert "strikeflow.select_contract" in rec.status_reason
    assert "IncompatibleMessage: a schema 1 ChainFetched message" in rec.status_reason
    queue.good_signal_executes()


@settings(FUZZ, max_examples=WORKER_EXAMPLES)
@given(payloads())
def test_generated_payloads_through_the_broker(queue, case):
    """The unit suite's payloads, JSON-serializable ones, on the real worker: refused at
    the message check when it finds them unfit (a NaN, a control character), else as the
    task's own validation decides."""
    payload, spoiled = case
    try:
        json.dumps(payload)
    except (TypeError, ValueError):
        return  # a JSON message cannot carry it (bytes, an int past 4300 digits)
    before = queue.stored()
    sent = queue.fleet.app.send_task("strikeflow.dispatch", kwargs=payload)
    result = AsyncResult(sent.id, app=queue.fleet.app)
    poll(lambda: result.state, lambda state: state in ("FAILURE", "SUCCESS"), DEADLINE_S)
    unfit = body_problem([[], json.loads(json.dumps(payload)), None])
    if unfit is not None:  # refused at the message check, before any task code
        assert result.state == "FAILURE", (payload, result.result)
        assert unfit in repr(result.result)
        assert queue.stored() == before
    elif spoiled:
        assert result.state == "FAILURE", (payload, result.result)
        assert "InvalidRecord" in repr(result.result)
        assert queue.stored() == before
    else:
        assert result.state == "SUCCESS", (payload, result.result)
        assert result.result["sent"] is True
        assert queue.recommendations.get(result.result["recommendation_id"]) is not None
    assert queue.worker.alive()


INJECTION = "'; DROP TABLE dispatch_executions;--"


def table_counts(url: str) -> dict[str, int]:
    """Rows per table; a dropped table would raise here."""
    from sqlalchemy import inspect

    engine = engine_for(url)
    names = set(inspect(engine).get_table_names())
    assert {"recommendations", "dispatch_executions"} <= names
    with engine.connect() as conn:
        return {
            name: conn.execute(
                select(func.count()).select_from(recommendations.metadata.tables[name])
            ).scalar_one()
            for name in ("recommendations", "dispatch_executions")
        }


def test_an_injected_ticker_through_dispatch_is_refused_and_changes_nothing(queue):
    queue.good_signal_executes()  # a row in each table to lose
    before = table_counts(queue.url)
    for fields in (
        {"ticker": INJECTION, "action": "BUY"},
        {"recommendation_id": f"x{INJECTION}"},
    ):
        sent = queue.fleet.app.send_task("strikeflow.dispatch", kwargs=fields)
        assert "InvalidRecord" in queue.failed(sent.id)
    assert table_counts(queue.url) == before


def test_an_injection_in_free_text_is_stored_as_text(queue):
    """A reason is free text: it is stored verbatim, as a bound parameter, not run."""
    sent = queue.fleet.app.send_task(
        "strikeflow.dispatch", kwargs={"ticker": "MSFT", "action": "BUY", "reason": INJECTION}
    )
    out = sent.get(timeout=DEADLINE_S)
    assert queue.recommendations.get(out["recommendation_id"]).reason == INJECTION
    assert set(table_counts(queue.url)) == {"recommendations", "dispatch_executions"}
