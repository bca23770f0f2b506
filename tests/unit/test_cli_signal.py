"""``strikeflow signal``: bad arguments exit 2 with nothing stored; a good one is stored
and its chain sent (memory:// broker, no worker)."""

from __future__ import annotations

import json
import re

import pytest

import strikeflow.workers.app  # noqa: F401  (the production app exists before the test app)
from strikeflow.cli import main
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from tests.unit.memory_celery import memory_current_app, stored_recommendations


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'signal.db'}"
    upgrade(url, "head")
    monkeypatch.setenv("STRIKEFLOW_DATABASE_URL", url)
    yield url
    dispose_all()


@pytest.fixture
def memory_app():
    with memory_current_app("strikeflow-cli-test") as app:
        yield app


def stored(url: str) -> int:
    return stored_recommendations(url)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["12$X", "--action", "BUY"], "ticker"),
        (["AAPL", "--action", "BUY", "--confidence", "1.5"], "confidence"),
        (["AAPL", "--action", "BUY", "--confidence", "-0.1"], "confidence"),
        (["AAPL", "--action", "BUY", "--confidence", "nan"], "confidence"),
        (["AAPL", "--action", "BUY", "--instrument", "PUT"], "PUT"),
        (["AAPL", "--action", "SELL", "--instrument", "CALL"], "CALL"),
        (["AAPL", "--action", "HOLD"], "--action"),
        (["AAPL", "--action", "BUY", "--strategy", "scalp"], "--strategy"),
        (["AAPL"], "--action"),
    ],
)
def test_bad_arguments_exit_2_and_store_nothing(db_url, argv, named, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["signal", *argv])
    assert exited.value.code == 2
    assert named in capsys.readouterr().err
    assert stored(db_url) == 0


def test_a_signal_is_stored_and_its_chain_sent(db_url, memory_app, capsys):
    assert main(["signal", "aapl", "--action", "BUY", "--instrument", "CALL", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rec = RecommendationRepository(engine_for(db_url)).get(out["recommendation_id"])
    assert rec is not None
    assert rec.ticker == "AAPL"
    assert rec.source.value == "manual"
    assert rec.status.value == "dispatched"
    assert rec.strategy_type.value == "day_trade"  # an option needs a DTE window
    with memory_app.connection_for_read() as conn:
        message = conn.SimpleQueue("marketdata").get(timeout=5)
    assert message.headers["task"] == "strikeflow.fetch_chain"
    assert message.headers["argsrepr"] == repr((rec.id,))
    message.ack()


def test_wait_gives_up_at_its_deadline_with_exit_3(db_url, memory_app, capsys):
    code = main(["signal", "MSFT", "--action", "SELL", "--wait", "--timeout", "0.3"])
    assert code == 3
    out, err = capsys.readouterr()
    assert "still dispatched" in err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) <= 12, out  # the outcome, not the explain document
    assert max(len(line.rstrip()) for line in lines) <= 120
    assert "SELL MSFT STOCK" in out
    assert "none recorded" in out
    rec_id = re.search(r"strikeflow explain (manual-[0-9a-f]{32})", out)
    assert rec_id is not None, out
    assert RecommendationRepository(engine_for(db_url)).get(rec_id.group(1)) is not None
