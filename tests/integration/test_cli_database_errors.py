"""The database failures the command line explains arrive typed from the engine, on both
dialects: a database without the schema (SchemaMissing), a SQLite file that a command
would otherwise create empty (DatabaseMissing), a URL strikeflow cannot use
(UnsupportedDatabase). Migrations see their own errors untranslated."""

from __future__ import annotations

import pickle

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from strikeflow.db import migrate
from strikeflow.db.engine import dispose_all, engine_for, sqlite_files
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.domain.errors import (
    DatabaseMissing,
    MissingCredentials,
    SchemaMissing,
    UnsupportedDatabase,
)
from tests.integration.conftest import DIALECTS


@pytest.fixture(params=DIALECTS)
def empty_url(request, create_database):
    url = create_database(request.param)
    yield url
    dispose_all()


def test_a_database_without_the_schema_is_schema_missing(empty_url):
    with pytest.raises(SchemaMissing) as missing:
        RecommendationRepository(engine_for(empty_url)).get("rec-1")
    assert "recommendations" in missing.value.detail
    assert missing.value.url == engine_for(empty_url).url.render_as_string(hide_password=True)
    with pytest.raises(SchemaMissing):  # the reads' own engine too
        ExecutionRepository(engine_for(empty_url)).recent(limit=1)


def test_a_missing_column_is_schema_missing_too(empty_url):
    migrate.upgrade(empty_url, "0001")  # before the option columns
    with pytest.raises(SchemaMissing) as behind:
        ExecutionRepository(engine_for(empty_url)).recent(limit=1)
    assert "column" in behind.value.detail


def test_a_migration_sees_its_own_errors_untranslated(empty_url):
    with (
        pytest.raises(DBAPIError) as raw,
        migrate.migration_connection(empty_url) as connection,
    ):
        connection.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(raw.value, SchemaMissing)


def test_a_command_does_not_create_a_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with sqlite_files(create=False), pytest.raises(DatabaseMissing) as missing:
        engine_for(url)
    assert missing.value.url == url
    assert migrate.current(url) is None
    assert not list(tmp_path.iterdir())
    with sqlite_files(create=False):
        migrate.upgrade(url)  # a migration creates it
    assert migrate.current(url) == migrate.head()
    dispose_all()


def test_an_in_memory_sqlite_database_is_never_missing():
    with sqlite_files(create=False), engine_for("sqlite://").connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    dispose_all()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u:s3cret@h/db", "mysql://u:***@h/db: mysql is not supported"),
        ("postgresql+nosuchdriver://u@h/db", "driver not available"),
    ],
)
def test_a_url_strikeflow_cannot_use_is_unsupported_database(url, says):
    with pytest.raises(UnsupportedDatabase) as unusable:
        engine_for(url)
    assert says in str(unusable.value)
    assert "s3cret" not in str(unusable.value)


@pytest.mark.parametrize(
    "error",
    [
        UnsupportedDatabase("mysql://u@h/db", "mysql is not supported"),
        DatabaseMissing("sqlite:///x.db"),
        SchemaMissing("sqlite:///x.db", "no such table: recommendations"),
        MissingCredentials("Alpaca", ("STRIKEFLOW_ALPACA_API_KEY",)),
    ],
)
def test_the_setup_errors_survive_a_pickle_round_trip(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
