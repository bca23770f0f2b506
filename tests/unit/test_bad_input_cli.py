"""Generated command lines against ``strikeflow signal`` and ``strikeflow executions``.

The same spoiling as the payload tests, typed as a user would: a bad value, a missing
``--action``, an option the command does not have (``--quantity=-5``, an expiration).
A spoiled command line exits 2 with argparse's one-line message, no traceback, and
nothing stored; a good one exits 0 with one whole row, its chain sent (memory://, no
worker). Options are given as ``--name=value`` and the ticker after ``--``, so a value
starting with a dash is still a value. Derandomized.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strikeflow.workers.app  # noqa: F401  (the production app exists before the test app)
from strikeflow.cli import main
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.records import TICKER
from tests.hypothesis_profiles import examples
from tests.unit.memory_celery import memory_current_app, stored_recommendations
from tests.unit.test_bad_input_dispatch import (
    FUZZ,
    GOOD_TICKERS,
    INJECTION,
    NON_ASCII,
    malformed_occ,
    over_long,
)

SIGNAL_EXAMPLES = examples(1_200)
EXECUTIONS_EXAMPLES = examples(300)


def typeable(text: str) -> bool:
    """What a shell can pass in argv: no NUL."""
    return "\0" not in text


CLI_BAD_TICKERS = st.one_of(
    NON_ASCII.filter(typeable),
    over_long(string.ascii_uppercase, 17, 200),
    st.text(max_size=30).filter(lambda s: typeable(s) and not TICKER.fullmatch(s.strip().upper())),
    malformed_occ(),
    st.sampled_from([INJECTION, "", " ", "-1ABC", "ſpy", "ＡＡＰＬ", "AAPL;"]),
)  # fmt: skip
GOOD_CONFIDENCE = st.one_of(
    st.floats(0, 1).map(repr), st.sampled_from(["0", "1", " 0.5 ", "1e-1", ".75", "1.0"])
)
BAD_CONFIDENCE = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "abc", ""]),
    st.floats().filter(lambda x: not 0 <= x <= 1).map(repr),
    st.sampled_from(["0,5", "50%", "1.5", "-0.1", "2", "0x1"]),
)
BAD_TIMEOUTS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e9", "soon", ""]),
    st.floats(max_value=0).map(repr),
)
UNKNOWN_OPTIONS = st.one_of(
    st.tuples(st.sampled_from(["--quantity", "--qty", "--contracts"]), st.integers().map(str)),
    st.tuples(st.sampled_from(["--expiration", "--expires"]), st.dates().map(str)),
    st.tuples(st.just("--option-symbol"), malformed_occ()),
)


@st.composite
def signal_argv(draw) -> tuple[list[str], dict[str, str], frozenset[str]]:
    """argv after ``signal``, the good values it carries, and what it spoils."""
    spoiled: set[str] = set()
    values: dict[str, str] = {}
    argv: list[str] = []

    def option(name: str, good, bad, required: bool = False) -> None:
        roll = draw(st.integers(0, 5))
        if roll == 0:
            argv.append(f"--{name}={draw(bad)}")
            spoiled.add(name)
        elif required or roll <= 2:
            values[name] = draw(good)
            argv.append(f"--{name}={values[name]}")

    option("action", st.sampled_from(["BUY", "sell"]), st.sampled_from(["HOLD", "", "B"]), True)
    if draw(st.integers(0, 11)) == 0:
        argv.pop(0)
        values.pop("action", None)
        spoiled.add("action")
    option("instrument", st.sampled_from(["STOCK", "call", "PUT"]), st.sampled_from(["BOND", ""]))
    option("strategy", st.sampled_from(["day_trade", "SWING_TRADE"]), st.sampled_from(["scalp"]))
    option("confidence", GOOD_CONFIDENCE, BAD_CONFIDENCE)
    option(
        "reason",
        st.text(max_size=40).filter(typeable),
        over_long(string.ascii_letters + " .,'", 2_001, 2_050),
    )
    option("timeout", st.sampled_from(["0.5", "30", "86400"]), BAD_TIMEOUTS)
    if draw(st.integers(0, 7)) == 0:
        name, value = draw(UNKNOWN_OPTIONS)
        argv.append(f"{name}={value}")
        spoiled.add(name)
    if draw(st.integers(0, 4)) == 0:
        ticker = draw(CLI_BAD_TICKERS)
        spoiled.add("ticker")
    else:
        ticker = draw(st.sampled_from(GOOD_TICKERS))
        values["ticker"] = ticker
    if {"action", "instrument"}.isdisjoint(spoiled) and "action" in values:
        pair = (values["action"].upper(), values.get("instrument", "STOCK").upper())
        if pair in {("BUY", "PUT"), ("SELL", "CALL")}:
            spoiled.add("instrument")
    return [*argv, "--", ticker], values, frozenset(spoiled)


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('bad-cli') / 'cli.db'}"
    upgrade(url, "head")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRIKEFLOW_DATABASE_URL", url)
        yield url
    dispose_all()


@pytest.fixture(scope="module")
def memory_app():
    with memory_current_app("strikeflow-bad-cli") as app:
        yield app


def rows(url: str) -> int:
    return stored_recommendations(url)


def run(argv: list[str]) -> tuple[int, str, str]:
    """``strikeflow *argv`` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exited:
            code = exited.code
    return code, out.getvalue(), err.getvalue()


def check_usage_error(code: int, err: str, command: str) -> None:
    assert code == 2, err
    # the subcommand's parser, or the top one for an option no subcommand has
    assert f"strikeflow {command}: error: " in err or "strikeflow: error: unrecognized" in err
    assert "Traceback" not in err
    assert len(err.splitlines()[-1]) < 600  # one line that names the problem


@settings(FUZZ, max_examples=SIGNAL_EXAMPLES)
@given(signal_argv())
def test_a_command_line_is_refused_with_exit_2_or_stores_one_whole_row(cli_db, memory_app, case):
    argv, values, spoiled = case
    before = rows(cli_db)
    code, out, err = run(["signal", "--json", *argv])
    if spoiled:
        check_usage_error(code, err, "signal")
        assert rows(cli_db) == before
        return
    assert code == 0, err
    assert rows(cli_db) == before + 1

    rid = json.loads(out)["recommendation_id"]
    rec = RecommendationRepository(engine_for(cli_db)).get(rid)
    assert rec.status is RecommendationStatus.DISPATCHED
    assert rec.ticker == values["ticker"].strip().upper()
    assert rec.action.value == values["action"].upper()
    assert rec.confidence == float(values.get("confidence", "0.8"))
    assert math.isfinite(rec.confidence)


INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9998, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]),
)


@st.composite
def executions_argv(draw) -> tuple[list[str], bool]:
    argv, good = ["executions", "--json"], True
    since = draw(st.integers(0, 3))
    if since == 1:
        argv.append(f"--since={draw(INSTANTS).isoformat()}")  # the past, or far ahead
    elif since == 2:
        argv.append(f"--since={draw(st.datetimes()).isoformat()}")  # no offset
        good = False
    elif since == 3:
        argv.append(f"--since={draw(st.sampled_from(['yesterday', '', '2026-13-01', 'now']))}")
        good = False
    if draw(st.booleans()):
        limit = draw(st.one_of(st.integers(-(10**20), 10**20), st.integers(1, 10_000)))
        argv.append(f"--limit={limit}")
        good = good and 1 <= limit <= 10_000
    if draw(st.integers(0, 9)) == 0:
        argv.append(f"--limit={draw(st.sampled_from(['nan', '1.5', 'ten', '']))}")
        good = False
    return argv, good


@settings(FUZZ, max_examples=EXECUTIONS_EXAMPLES)
@given(executions_argv())
def test_executions_refuses_a_bad_since_or_limit_with_exit_2(cli_db, case):
    argv, good = case
    code, out, err = run(argv)
    if good:
        assert code == 0, err
        assert out.startswith('{"executions": ')
    else:
        check_usage_error(code, err, "executions")
