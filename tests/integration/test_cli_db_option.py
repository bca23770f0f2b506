"""``--db`` on the read commands: a SQLite file (the demo's) or a URL, never a new file."""

from __future__ import annotations

import json

import pytest

from strikeflow.cli import main
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from tests.integration.record_factories import recommendation


@pytest.fixture
def demo_file(tmp_path):
    path = tmp_path / "strikeflow-demo.db"
    url = f"sqlite:///{path}"
    upgrade(url, "head")
    RecommendationRepository(engine_for(url)).insert(recommendation("db-opt-1"))
    dispose_all()
    return path


@pytest.mark.parametrize("command", ["report", "positions", "executions"])
def test_a_sqlite_file_is_read_in_place(demo_file, command, capsys, monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_DATABASE_URL", "sqlite:////nonexistent/elsewhere.db")
    assert main([command, "--db", str(demo_file), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    expected = {
        "report": {"options_performance_by_strategy", "daily_options_summary"},
        "positions": {"as_of", "venue", "positions", "active_options_positions"},
        "executions": {"executions"},
    }[command]
    assert set(shown) == expected


def test_explain_reads_a_sqlite_file_in_place(demo_file, capsys, monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_DATABASE_URL", "sqlite:////nonexistent/elsewhere.db")
    assert main(["explain", "db-opt-1", "--db", str(demo_file), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["recommendation"]["id"] == "db-opt-1"
    assert shown["executions"] == []


def test_a_url_is_taken_as_it_is(demo_file, capsys):
    assert main(["executions", "--db", f"sqlite:///{demo_file}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"executions": []}


def test_a_path_that_names_no_file_is_refused_and_not_created(tmp_path, capsys):
    missing = tmp_path / "typo.db"
    with pytest.raises(SystemExit) as usage:
        main(["report", "--db", str(missing)])
    assert usage.value.code == 2
    assert "no database file" in capsys.readouterr().err
    assert not missing.exists()
