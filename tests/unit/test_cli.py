from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime

import pytest

from strikeflow.cli import main

OCC = re.compile(r"\b[A-Z]{1,6}\d{6}[CP]\d{8}\b")


def test_demo_selects_contracts_and_explains_the_rejections(capsys):
    assert main(["demo", "--explain", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    chosen = re.findall(r"chosen (\S+) ask", out)
    assert all(OCC.fullmatch(s) for s in chosen)
    # every sample trade but the strict MSFT one gets a contract of its own underlying
    assert [re.match(r"[A-Z]+", s).group() for s in chosen] == ["SPY", "AAPL", "TSLA"]
    assert "CHOSEN" in out
    assert "outside 0–1 DTE" in out
    assert "no eligible contract" in out  # the strict MSFT policy falls back
    assert re.search(r"sizing: \d+ × \d+\.\d\d = ", out)


def test_demo_is_deterministic_for_a_seed(capsys):
    main(["demo", "--explain", "--seed", "3"])
    first = capsys.readouterr().out
    main(["demo", "--explain", "--seed", "3"])
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("at", ["yesterday", "2026-11-19T10:45"])
def test_a_bad_instant_is_a_usage_error(at, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--explain", "--at", at])
    assert exited.value.code == 2
    assert "--at" in capsys.readouterr().err


def test_the_console_script_runs():
    done = subprocess.run(
        [sys.executable, "-m", "strikeflow", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "demo" in done.stdout


# -- failures: one line and a documented exit code, whatever a command raises ----------

# A value each validated setting refuses; FREE_TEXT settings take any string (a URL, a
# key, a path checked when it is loaded), so nothing there can fail validation. A new
# field must join one of the two.
BAD_VALUES = {
    "clock": "foo",
    "alpaca_trading_rate_limit": "-1",
    "alpaca_data_rate_limit": "lots",
    "alpaca_rate_window_s": "0",
    "alpaca_rate_margin": "1",
    "alpaca_order_reserve": "1",
    "alpaca_rate_max_wait_s": "61",
    "entry_max_rest_s": "-5",
    "stuck_after_s": "0",
    "close_fee_per_contract": "-1",
    "risk_max_net_delta": "-1",
    "risk_max_net_vega": "lots",
    "alpaca_paper": "maybe",
    "alpaca_connect_timeout_s": "0",
    "alpaca_read_timeout_s": "abc",
    "alpaca_options_feed": "sip",
    "alpaca_stock_feed": "opra",
    "alpaca_data_url": "https://paper-api.alpaca.markets",
    "option_order_pricing": "best",
    "off_hours": "sometimes",
    "option_spread_fraction": "2",
    "on_broker_failure": "panic",
    "retry_deadline_s": "1",
    "retry_floor_s": "0",
    "risk_max_open_positions": "-1",
    "risk_max_daily_realized_loss": "nan",
    "risk_max_exposure_per_ticker": "lots",
    "risk_day_trade_cutoff": "25:00",
    "watchlist": ",, ",
    "scan_every_s": "0",
    "scan_every_min": "1.5",
    "reconcile_every_s": "1e9",
    "clock_ttl_s": "-1",
    "work_timer": "eventually",
}
FREE_TEXT = {
    "database_url",
    "broker_url",
    "result_backend",
    "redis_url",
    "alpaca_api_key",
    "alpaca_secret_key",
    "alpaca_base_url",
    "alpaca_trading_url",
    "rules_file",
    "signing_key",
    "signing_cert",
    "signing_cert_store",
}


def refusal(**values: object):
    from pydantic import ValidationError

    from strikeflow.config import Settings

    with pytest.raises(ValidationError) as refused:
        Settings(**values)
    return refused.value


def test_every_setting_is_either_validated_here_or_free_text():
    from strikeflow.config import Settings

    assert set(BAD_VALUES) | FREE_TEXT == set(Settings.model_fields)
    assert not set(BAD_VALUES) & FREE_TEXT


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_refused_setting_is_one_line_naming_the_variable_and_its_value(name):
    from strikeflow.cli.failures import EXIT_USAGE, describe

    value = BAD_VALUES[name]
    line, code = describe(refusal(**{name: value}))
    assert code == EXIT_USAGE
    assert "\n" not in line
    assert line.startswith(f"STRIKEFLOW_{name.upper()}={value!r}: ")
    assert len(line) > len(f"STRIKEFLOW_{name.upper()}={value!r}: ") + 10  # says what it takes
    assert "https://errors.pydantic.dev" not in line


@pytest.mark.parametrize(
    ("name", "value", "accepts"),
    [
        ("clock", "foo", "expected 'wall' or 'market'"),
        ("alpaca_paper", "maybe", "expected true or false"),
        ("alpaca_connect_timeout_s", "61", "expected a number in (0, 60]"),
        ("retry_deadline_s", "x", "expected a number in [2, 120]"),
        ("risk_max_daily_realized_loss", "-1", "expected a number >= 0"),
        ("risk_day_trade_cutoff", "25:00", "(HH:MM)"),
        ("watchlist", "SPY,$$$", "not ticker symbols: '$$$'"),
    ],
)
def test_the_line_says_what_the_setting_accepts(name, value, accepts):
    from strikeflow.cli.failures import describe

    line, _ = describe(refusal(**{name: value}))
    assert accepts in line


def test_every_refused_setting_is_on_the_one_line_and_a_secret_is_masked():
    from strikeflow.cli.failures import describe

    line, _ = describe(refusal(clock="x", alpaca_api_key=12345, retry_deadline_s="y"))
    assert "\n" not in line
    assert line.count("; ") == 2
    assert "STRIKEFLOW_ALPACA_API_KEY='**********'" in line
    assert "12345" not in line


def test_another_models_validation_is_unexpected_not_a_setting():
    from pydantic import BaseModel, ValidationError

    from strikeflow.cli.failures import EXIT_FAILED, describe

    class Message(BaseModel):
        size: int

    with pytest.raises(ValidationError) as refused:
        Message(size="many")
    line, code = describe(refused.value)
    assert code == EXIT_FAILED
    assert line.startswith("unexpected ValidationError: 1 validation error for Message")
    assert "STRIKEFLOW_SIZE" not in line


def test_main_says_a_bad_setting_in_one_line_with_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("STRIKEFLOW_CLOCK", "foo")
    assert main(["killswitch", "status"]) == 2
    out, err = capsys.readouterr()
    assert err == "strikeflow: STRIKEFLOW_CLOCK='foo': expected 'wall' or 'market'\n"
    assert out == ""


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ("UnsupportedDatabase", "STRIKEFLOW_DATABASE_URL: mysql://u@h/db: mysql is not"),
        ("DatabaseMissing", "run `strikeflow db upgrade` to create it"),
        ("SchemaMissing", "no such table: recommendations: run `strikeflow db upgrade`"),
        ("MissingCredentials", "set STRIKEFLOW_ALPACA_SECRET_KEY"),
    ],
)
def test_a_setup_error_is_its_line_with_the_fix_and_exit_1(error, says, monkeypatch):
    from strikeflow.cli.failures import EXIT_FAILED, describe
    from strikeflow.domain import errors

    monkeypatch.setenv("STRIKEFLOW_DATABASE_URL", "sqlite:///x.db")
    made = {
        "UnsupportedDatabase": errors.UnsupportedDatabase("mysql://u@h/db", "mysql is not ..."),
        "DatabaseMissing": errors.DatabaseMissing("sqlite:///x.db"),
        "SchemaMissing": errors.SchemaMissing("sqlite:///x.db", "no such table: recommendations"),
        "MissingCredentials": errors.MissingCredentials(
            "Alpaca", ("STRIKEFLOW_ALPACA_SECRET_KEY",)
        ),
    }[error]
    line, code = describe(made)
    assert code == EXIT_FAILED
    assert says in line


def test_an_unset_database_url_is_said_to_be_the_default(monkeypatch):
    from strikeflow.cli.failures import describe
    from strikeflow.domain.errors import DatabaseMissing, SchemaMissing

    monkeypatch.delenv("STRIKEFLOW_DATABASE_URL", raising=False)
    missing, _ = describe(DatabaseMissing("sqlite:///./strikeflow.db"))
    assert missing.startswith("STRIKEFLOW_DATABASE_URL is not set and the default ")
    empty, _ = describe(SchemaMissing("sqlite:///./strikeflow.db", "no such table: x"))
    assert "STRIKEFLOW_DATABASE_URL is not set: this is its default" in empty


@pytest.fixture
def recover_raises(monkeypatch):
    """``strikeflow recover`` replaced by a command that raises what it is given."""
    from strikeflow.cli import recover

    def install(error: BaseException) -> None:
        def run(_args):
            raise error

        monkeypatch.setattr(recover, "run_recover", run)

    return install


def test_an_unexpected_error_is_one_line_without_a_traceback(recover_raises, monkeypatch, capsys):
    monkeypatch.delenv("STRIKEFLOW_DEBUG", raising=False)
    recover_raises(RuntimeError("boom\nsecond line"))
    assert main(["recover"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "strikeflow recover: unexpected RuntimeError: boom"
        " (set STRIKEFLOW_DEBUG=1 to see the traceback)\n"
    )


def test_strikeflow_debug_prints_the_traceback_above_the_line(recover_raises, monkeypatch, capsys):
    monkeypatch.setenv("STRIKEFLOW_DEBUG", "1")
    recover_raises(RuntimeError("boom"))
    assert main(["recover"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "RuntimeError: boom" in lines
    assert lines[-1].startswith("strikeflow recover: unexpected RuntimeError: boom")


def test_a_failure_the_command_expects_is_said_without_the_debug_hint(recover_raises, capsys):
    from strikeflow.domain.errors import StoreUnavailable

    recover_raises(StoreUnavailable("get", "connection refused"))
    assert main(["recover"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "strikeflow recover: StoreUnavailable: database unavailable during get:"
        " connection refused\n"
    )


def test_ctrl_c_is_one_line_and_exit_130(recover_raises, capsys):
    recover_raises(KeyboardInterrupt())
    assert main(["recover"]) == 130
    assert capsys.readouterr().err == "strikeflow recover: interrupted\n"


def test_a_usage_error_still_exits_2_through_argparse(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["recover", "--min-age", "soon"])
    assert exited.value.code == 2
    assert "--min-age" in capsys.readouterr().err


@pytest.mark.parametrize("given", ["2026-12-01", "2026-11-19T10:45", "2026-11-19 10:45:30.5"])
def test_the_offset_hint_is_a_value_the_option_accepts(given):
    import argparse

    from strikeflow.cli.arguments import aware_instant

    with pytest.raises(argparse.ArgumentTypeError) as refused:
        aware_instant(given)
    hinted = str(refused.value).split("e.g. ")[1].split(" or ")
    assert len(hinted) == 2
    for value in hinted:
        assert aware_instant(value).replace(tzinfo=None) == datetime.fromisoformat(given)


def test_help_and_docs_list_every_exit_code():
    from pathlib import Path

    from strikeflow.cli.failures import EXIT_CODES

    done = subprocess.run(
        [sys.executable, "-m", "strikeflow", "--help"], capture_output=True, text=True, check=False
    )
    table = Path(__file__).parents[2] / "docs" / "cli.md"
    rows = re.findall(r"^\| (\d+) \| ", table.read_text(), flags=re.MULTILINE)
    assert [int(r) for r in rows] == [code for code, _ in EXIT_CODES]
    epilog = done.stdout.split("exit codes:\n")[1]
    assert re.findall(r"^  (\d+) ", epilog, flags=re.MULTILINE) == [str(c) for c, _ in EXIT_CODES]


def test_output_closed_by_its_reader_is_exit_1_and_no_complaint(recover_raises, capsys):
    recover_raises(BrokenPipeError())
    assert main(["recover"]) == 1
    assert capsys.readouterr() == ("", "")
