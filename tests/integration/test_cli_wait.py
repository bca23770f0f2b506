"""``strikeflow signal --wait`` polls PostgreSQL: a connection the server dropped while it
waited (a restart) costs one poll, not the command."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.exc import OperationalError

from strikeflow.cli.dispatch import _wait
from strikeflow.db.engine import dispose_all, engine_for, reader_for
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.domain.enums import RecommendationStatus
from tests.integration.conftest import terminate_backend_of
from tests.integration.record_factories import recommendation


@pytest.fixture
def url(postgres_url):
    yield postgres_url
    dispose_all()


@pytest.fixture
def store(url):
    return RecommendationRepository(engine_for(url))


def test_the_wait_rides_through_a_dropped_connection(store, url):
    rec = replace(recommendation("wait-1"), status=RecommendationStatus.EXECUTED)
    store.insert(rec)
    assert store.get("wait-1").status is RecommendationStatus.EXECUTED
    terminate_backend_of(reader_for(engine_for(url)))
    assert _wait(store, "wait-1", timeout_s=5).status is RecommendationStatus.EXECUTED


def test_a_dropped_connection_past_the_deadline_is_the_error(store, url):
    store.insert(recommendation("wait-2"))
    store.get("wait-2")
    terminate_backend_of(reader_for(engine_for(url)))
    with pytest.raises(OperationalError):
        _wait(store, "wait-2", timeout_s=0)
