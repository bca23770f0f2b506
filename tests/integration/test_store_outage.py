"""A PostgreSQL that refuses connections: the dispatch store says StoreUnavailable (which
the tasks retry), never a driver error, and works again once the database is back."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from strikeflow.db.dispatch_store import SqlDispatchStore
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.domain.errors import StoreUnavailable
from tests.integration.conftest import ADMIN_URL
from tests.integration.record_factories import recommendation


def allow_connections(url: str, allowed: bool) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    try:
        with admin.connect() as conn:
            flag = "true" if allowed else "false"
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {flag}'))
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": name},
                )
    finally:
        admin.dispose()


def test_a_refused_database_is_store_unavailable_then_recovers(postgres_url):
    store = SqlDispatchStore(engine_for(postgres_url))
    store.recommendations.insert(recommendation("outage-1"))
    assert store.get_recommendation("outage-1") is not None
    allow_connections(postgres_url, False)
    try:
        # The pooled connection was in use a moment ago, so it goes out unpinged and
        # meets the closed socket; that disconnect invalidates the pool, and the next
        # call's new connection meets the refusal. Both are StoreUnavailable.
        with pytest.raises(StoreUnavailable, match="get_recommendation") as lost:
            store.get_recommendation("outage-1")
        assert re.search("closed the connection|terminating connection", str(lost.value))
        with pytest.raises(StoreUnavailable, match="get_recommendation") as down:
            store.get_recommendation("outage-1")
        assert "not currently accepting connections" in str(down.value)
        with pytest.raises(StoreUnavailable, match="execution_by_client_order_id"):
            store.execution_by_client_order_id("sf-open-x")
        with pytest.raises(StoreUnavailable, match="record_selection"):  # its own SQL path
            store.record_selection("outage-1", {"chosen": None})
    finally:
        allow_connections(postgres_url, True)
    assert store.get_recommendation("outage-1").id == "outage-1"
    store.record_selection("outage-1", {"chosen": None})
    assert store.recommendations.selection("outage-1") == {"chosen": None}
    dispose_all()
