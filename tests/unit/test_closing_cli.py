"""``strikeflow close`` from a shell: bad input exits 2 with one line and stores nothing;
a good close stores one close recommendation and sends its chain (memory://, no worker).
The database is a SQLite file holding one filled CALL entry of 3 contracts."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

import strikeflow.workers.app  # noqa: F401  (the production app exists before the test app)
from strikeflow.cli import main
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.domain.enums import RecommendationSource, RecommendationStatus
from tests.integration.record_factories import option_execution, recommendation
from tests.unit.memory_celery import memory_current_app, stored_recommendations


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('close-cli') / 'cli.db'}"
    upgrade(url, "heads")
    engine = engine_for(url)
    RecommendationRepository(engine).insert(recommendation("rec-entry"))
    entry, _ = ExecutionRepository(engine).insert(option_execution(rec_id="rec-entry"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRIKEFLOW_DATABASE_URL", url)
        yield url, entry
    dispose_all()


@pytest.fixture(scope="module")
def memory_app():
    with memory_current_app("strikeflow-close-cli") as app:
        yield app


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exited:
            code = exited.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["close", "a b!"], "neither an execution id nor a symbol"),
        (["close", "SPY", "--qty", "0"], "must be a positive number"),
        (["close", "SPY", "--qty", "-1"], "must be a positive number"),
        (["close", "SPY", "--qty", "abc"], "must be a positive number"),
        (["close", "SPY", "--qty", "inf"], "must be a positive number"),
        (["close"], "the following arguments are required: target"),
    ],
)
def test_a_malformed_close_exits_2_before_the_database(argv, says):
    code, _out, err = run(argv)
    assert code == 2, err
    assert "strikeflow close: error: " in err
    assert says in err.splitlines()[-1]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["close", "999"], "target no execution 999"),
        (["close", "QQQ"], "target nothing is held on QQQ"),
        (["close", "{entry}", "--qty", "4"], "qty 4 is more than the 3 left of execution {entry}"),
        (["close", "{entry}", "--qty", "1.5"], "qty options close in whole contracts, got 1.5"),
    ],
)
def test_a_close_of_what_is_not_held_exits_2_and_stores_nothing(cli_db, memory_app, argv, says):
    url, entry = cli_db
    before = stored_recommendations(url)
    code, out, err = run([a.format(entry=entry.id) for a in argv])
    assert (code, out) == (2, ""), err
    assert err == f"strikeflow close: {says.format(entry=entry.id)}\n"
    assert stored_recommendations(url) == before


def test_a_close_stores_one_close_and_sends_it_once(cli_db, memory_app):
    url, entry = cli_db
    code, out, err = run(["close", "AAPL", "--json"])
    assert code == 0, err
    (sent,) = json.loads(out)["closes"]
    assert sent["recommendation_id"] == f"close-{entry.id}-1"
    assert sent["sent"]
    rec = RecommendationRepository(engine_for(url)).get(sent["recommendation_id"])
    assert rec.source is RecommendationSource.MANUAL_CLOSE
    assert rec.status is RecommendationStatus.DISPATCHED
    # Asked again while the first is in flight: nothing more is stored or sent.
    before = stored_recommendations(url)
    code, out, err = run(["close", str(entry.id)])
    assert code == 0, err
    assert (
        out == f"close-{entry.id}-1: a close is in flight for execution {entry.id}; nothing sent\n"
    )
    assert stored_recommendations(url) == before
