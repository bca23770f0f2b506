"""The installed ``strikeflow`` console script against bad settings, bad databases and
bad arguments, as a user meets them at a shell: each case a subprocess in a directory of
its own, with an environment holding no STRIKEFLOW_* but the case's. Every case ends
with its documented exit code and one line on stderr naming the problem, never a
traceback; none leaves a database file behind.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade

SCRIPT = Path(sys.executable).with_name("strikeflow")
RUN_TIMEOUT_S = 60
DEFAULT_DB = "strikeflow.db"


@dataclass(frozen=True)
class Case:
    """``strikeflow *argv`` with ``env`` ({migrated}, {empty_pg}, {empty_sqlite} stand for
    this module's databases); the exit code and the words its stderr line must hold."""

    argv: tuple[str, ...]
    env: dict[str, str]
    code: int
    says: tuple[str, ...]
    usage: bool = False  # argparse's: its usage lines, then the one error line
    hides: tuple[str, ...] = field(default=())


MATRIX = {
    "database-url-not-a-url": Case(
        ("signal", "SPY", "--action", "BUY"),
        {"STRIKEFLOW_DATABASE_URL": "not-a-url"},
        1,
        ("STRIKEFLOW_DATABASE_URL", "not a database URL"),
    ),
    "database-url-mysql": Case(
        ("signal", "SPY", "--action", "BUY"),
        {"STRIKEFLOW_DATABASE_URL": "mysql://u:s3cret@h/db"},
        1,
        ("STRIKEFLOW_DATABASE_URL", "mysql is not supported"),
        hides=("s3cret",),
    ),
    "database-driver-missing": Case(
        ("executions",),
        {"STRIKEFLOW_DATABASE_URL": "postgresql+nosuchdriver://u@h/db"},
        1,
        ("STRIKEFLOW_DATABASE_URL", "nosuchdriver"),
    ),
    "db-option-unsupported": Case(
        ("report", "--db", "oracle://u:s3cret@h/db"),
        {},
        1,
        ("--db", "oracle is not supported"),
        hides=("s3cret",),
    ),
    "clock": Case(
        ("signal", "SPY", "--action", "BUY"),
        {"STRIKEFLOW_CLOCK": "foo"},
        2,
        ("strikeflow: STRIKEFLOW_CLOCK='foo': expected 'wall' or 'market'",),
    ),
    "day-trade-cutoff": Case(
        ("executions",),
        {"STRIKEFLOW_RISK_DAY_TRADE_CUTOFF": "25:00"},
        2,
        ("STRIKEFLOW_RISK_DAY_TRADE_CUTOFF='25:00'", "HH:MM"),
    ),
    "watchlist-empty": Case(
        ("recover",),
        {"STRIKEFLOW_WATCHLIST": ",, "},
        2,
        ("STRIKEFLOW_WATCHLIST=',, '", "at least one ticker"),
    ),
    "alpaca-paper": Case(
        ("killswitch", "status"),
        {"STRIKEFLOW_ALPACA_PAPER": "maybe"},
        2,
        ("STRIKEFLOW_ALPACA_PAPER='maybe'", "true or false"),
    ),
    "trading-host-for-data": Case(
        ("killswitch", "status"),
        {"STRIKEFLOW_ALPACA_BASE_URL": "https://paper-api.alpaca.markets"},
        2,
        ("STRIKEFLOW_ALPACA_BASE_URL", "trading host", "STRIKEFLOW_ALPACA_TRADING_URL"),
    ),
    "timeout-out-of-range": Case(
        ("db", "current"),
        {"STRIKEFLOW_ALPACA_READ_TIMEOUT_S": "500"},
        2,
        ("STRIKEFLOW_ALPACA_READ_TIMEOUT_S='500'", "a number in (0, 120]"),
    ),
    "two-bad-settings": Case(
        ("positions",),
        {"STRIKEFLOW_RETRY_DEADLINE_S": "many", "STRIKEFLOW_ON_BROKER_FAILURE": "panic"},
        2,
        ("STRIKEFLOW_RETRY_DEADLINE_S='many'", "STRIKEFLOW_ON_BROKER_FAILURE='panic'"),
    ),
    "recover-without-alpaca-keys": Case(
        ("recover",),
        {"STRIKEFLOW_DATABASE_URL": "{migrated}"},
        1,
        ("STRIKEFLOW_ALPACA_API_KEY", "STRIKEFLOW_ALPACA_SECRET_KEY"),
    ),
    "recover-without-secret-key": Case(
        ("recover",),
        {"STRIKEFLOW_DATABASE_URL": "{migrated}", "STRIKEFLOW_ALPACA_API_KEY": "k3y-value"},
        1,
        ("set STRIKEFLOW_ALPACA_SECRET_KEY",),
        hides=("k3y-value", "STRIKEFLOW_ALPACA_API_KEY"),
    ),
    "no-database-url-read": Case(
        ("executions",),
        {},
        1,
        ("STRIKEFLOW_DATABASE_URL is not set", "sqlite:///./strikeflow.db", "db upgrade"),
    ),
    "no-database-url-signal": Case(
        ("signal", "SPY", "--action", "BUY"),
        {},
        1,
        ("STRIKEFLOW_DATABASE_URL is not set", "sqlite:///./strikeflow.db", "db upgrade"),
    ),
    "sqlite-file-missing": Case(
        ("report",),
        {"STRIKEFLOW_DATABASE_URL": "sqlite:///elsewhere.db"},
        1,
        ("sqlite:///elsewhere.db", "no database file", "db upgrade"),
    ),
    "schema-missing-postgresql": Case(
        ("executions",),
        {"STRIKEFLOW_DATABASE_URL": "{empty_pg}"},
        1,
        ('relation "dispatch_executions" does not exist', "run `strikeflow db upgrade`"),
    ),
    "schema-missing-sqlite": Case(
        ("signal", "SPY", "--action", "BUY"),
        {"STRIKEFLOW_DATABASE_URL": "{empty_sqlite}"},
        1,
        ("no such table: recommendations", "run `strikeflow db upgrade`"),
    ),
    "since-without-offset": Case(
        ("executions", "--since", "2026-12-01"),
        {},
        2,
        ("--since", "2026-12-01T00:00:00+00:00"),
        usage=True,
    ),
    "emulator-port": Case(
        ("emulator", "--port", "99999"),
        {},
        2,
        ("--port", "99999"),
        usage=True,
    ),
    "emulator-symbols": Case(
        ("emulator", "--port", "{free_port}", "--symbols", "AAPL,$$$"),
        {},
        2,
        ("--symbols", "$$$"),
        usage=True,
    ),
}


@pytest.fixture(scope="module")
def databases(create_database) -> dict[str, str]:
    migrated = create_database("postgresql")
    upgrade(migrated, "head")
    dispose_all()
    return {"migrated": migrated, "empty_pg": create_database("postgresql")}


def clean_env(cwd: Path, settings: dict[str, str]) -> dict[str, str]:
    """What a fresh shell holds: no STRIKEFLOW_* of the parent's, only ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    return {**env, "HOME": str(cwd), **settings}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(argv, env, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def check_one_line(done: subprocess.CompletedProcess[str], case: Case) -> str:
    """The line that names the problem (argparse's last, after its usage lines)."""
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    if case.usage:
        assert lines[0].startswith("usage: strikeflow ")
        assert all(line.startswith(" ") for line in lines[1:-1]), done.stderr
        assert lines[-1].startswith(f"strikeflow {case.argv[0]}: error: argument ")
    else:
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("strikeflow")
    return lines[-1]


def substitute(value: str, databases: dict[str, str], cwd: Path) -> str:
    empty_sqlite = cwd / "empty.db"
    if "{empty_sqlite}" in value:
        sqlite3.connect(empty_sqlite).close()  # a file, with no schema in it
    return value.format(
        **databases, empty_sqlite=f"sqlite:///{empty_sqlite}", free_port=free_port()
    )


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_bad_input_is_one_line_and_its_exit_code(name, databases, tmp_path):
    case = MATRIX[name]
    settings = {k: substitute(v, databases, tmp_path) for k, v in case.env.items()}
    argv = [substitute(a, databases, tmp_path) for a in case.argv]
    before = set(tmp_path.iterdir())

    done = run(argv, clean_env(tmp_path, settings), tmp_path)

    assert done.returncode == case.code, done.stderr
    line = check_one_line(done, case)
    for words in case.says:
        assert words in line
    for secret in case.hides:
        assert secret not in done.stderr
    assert set(tmp_path.iterdir()) == before  # no database file left behind


def test_the_since_hint_is_itself_accepted(databases, tmp_path):
    env = clean_env(tmp_path, {})
    refused = run(["executions", "--since", "2026-12-01T09:30"], env, tmp_path)
    assert refused.returncode == 2
    hinted = refused.stderr.strip().splitlines()[-1].split("e.g. ")[1].split(" or ")
    assert len(hinted) == 2
    for value in hinted:
        done = run(["executions", "--since", value, "--db", databases["migrated"]], env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "executions: no rows" in done.stdout


def test_db_current_of_the_default_file_creates_none(tmp_path):
    done = run(["db", "current"], clean_env(tmp_path, {}), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sqlite:///./strikeflow.db is at no revision (empty database)"
    assert not (tmp_path / DEFAULT_DB).exists()


def test_strikeflow_debug_shows_the_traceback_above_the_line(tmp_path):
    env = clean_env(tmp_path, {"STRIKEFLOW_DEBUG": "1"})
    done = run(["executions"], env, tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "DatabaseMissing" in done.stderr
    assert lines[-1].startswith("strikeflow executions: STRIKEFLOW_DATABASE_URL is not set")
    assert not (tmp_path / DEFAULT_DB).exists()


def dispatched(url: str) -> int:
    with engine_for(url).connect() as conn:
        query = "SELECT count(*) FROM recommendations WHERE status = 'dispatched'"
        return conn.execute(text(query)).scalar_one()


def test_ctrl_c_while_signal_waits_is_one_line_and_exit_130(create_database, tmp_path):
    url = create_database("postgresql")
    upgrade(url, "head")
    settings = {
        "STRIKEFLOW_DATABASE_URL": url,
        "STRIKEFLOW_BROKER_URL": "memory://",  # sent into the command's own process
        "STRIKEFLOW_RESULT_BACKEND": "cache+memory://",
    }
    waiting = subprocess.Popen(
        [str(SCRIPT), "signal", "SPY", "--action", "BUY", "--wait", "--timeout", "600"],
        cwd=tmp_path,
        env=clean_env(tmp_path, settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ignores SIGINT; the user's foreground command does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not dispatched(url):  # stored and sent: it is in --wait's loop, or about to be
            assert time.monotonic() < deadline, "the signal was never dispatched"
            with pytest.raises(subprocess.TimeoutExpired):
                waiting.wait(timeout=0.1)  # still running, between two polls
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
        dispose_all()
    assert waiting.returncode == 130, err
    assert err == "strikeflow signal: interrupted\n"
    assert "Traceback" not in out
