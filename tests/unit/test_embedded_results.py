"""The embedded stack's result backend: a wait ends when the result is stored, not at
its next poll, and still ends at its timeout."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from celery import Celery, states
from celery.exceptions import TimeoutError as CeleryTimeout

from strikeflow.cli import embedded_results
from strikeflow.cli.embedded_results import EMBEDDED_RESULTS, EmbeddedResults

# Longer than any test may take: a wait that ended before it was woken, not polled.
INTERVAL_S = 60.0


@pytest.fixture
def backend(monkeypatch) -> EmbeddedResults:
    monkeypatch.setattr(embedded_results, "RELOOK_S", INTERVAL_S)
    app = Celery("embedded-results-test", set_as_current=False)
    app.conf.update(broker_url="memory://", result_backend=EMBEDDED_RESULTS)
    assert isinstance(app.backend, EmbeddedResults)
    return app.backend


def test_a_stored_result_wakes_the_wait_at_once(backend):
    task_id = str(uuid.uuid4())
    waiting = threading.Event()

    def store() -> None:
        waiting.wait(5)
        backend.store_result(task_id, {"held": 2}, states.SUCCESS)

    storer = threading.Thread(target=store)
    storer.start()
    started = time.monotonic()
    # The result is stored once the wait has looked and found nothing (on_interval runs
    # between the look and the sleep).
    meta = backend.wait_for(
        task_id, timeout=INTERVAL_S, interval=INTERVAL_S, on_interval=waiting.set
    )
    storer.join()
    assert meta["status"] == states.SUCCESS
    assert meta["result"] == {"held": 2}
    assert time.monotonic() - started < INTERVAL_S / 4


def test_a_result_stored_before_the_wait_is_returned(backend):
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, 7, states.SUCCESS)
    assert backend.wait_for(task_id, timeout=1.0, interval=INTERVAL_S)["result"] == 7


def test_a_wait_ends_at_its_timeout(backend):
    started = time.monotonic()
    with pytest.raises(CeleryTimeout):
        backend.wait_for(str(uuid.uuid4()), timeout=0.05, interval=INTERVAL_S)
    assert time.monotonic() - started < INTERVAL_S / 4
