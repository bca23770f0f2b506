"""``strikeflow emulator`` and ``strikeflow emulator clock``: what a user types, checked
before anything binds or is sent. A bad value exits 2 with argparse's one line naming
the option; no traceback."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from strikeflow.cli import _parser, main
from strikeflow.cli.emulator import port_number, symbol_list
from strikeflow.cli.emulator_clock import NEXT_OPEN, describe, duration, instant_or_next_open


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("0.5", 0.5), ("30m", 1800), ("2h", 7200), ("1d", 86_400), ("1h30m", 5400),
     ("1D", 86_400), (" 45s ", 45), ("366d", 366 * 86_400)],
)  # fmt: skip
def test_durations(text, seconds):
    assert duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "0", "-5", "3x", "m", "1h 30m", "30mm", "nan", "inf", "367d", "1.5.2h", "h1"]
)
def test_bad_durations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_ports_in_range_only():
    assert [port_number(p) for p in ("0", "8765", "65535")] == [0, 8765, 65535]
    for bad in ("-1", "65536", "99999", "http", "80.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            port_number(bad)


def test_symbols_are_upper_cased_and_deduplicated():
    assert symbol_list(" spy, AAPL,spy ,") == ("SPY", "AAPL")


@pytest.mark.parametrize("text", ["AAPL,$$$", "TOOLONG", "BRK.B", ",", "A1"])
def test_bad_symbols_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        symbol_list(text)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["emulator", "--port", "99999"], "--port"),
        (["emulator", "--port", "-1"], "--port"),
        (["emulator", "--symbols", "AAPL,$$$"], "'$$$'"),
        (["emulator", "--start", "2026-12-01T09:30"], "--start"),
        (["emulator", "clock", "advance", "3x"], "duration"),
        (["emulator", "clock", "advance", "-5m"], "duration"),
        (["emulator", "clock", "set", "tomorrow"], "instant"),
        (["emulator", "clock", "set", "2026-12-01T09:30:00"], "instant"),
        (["emulator", "clock", "rewind", "1h"], "rewind"),
        (["emulator", "clock"], "ACTION"),
        (["fleet", "up", "--emulator-port", "70000"], "--emulator-port"),
        (["fleet", "sideways"], "sideways"),
        (["fleet", "up", "--start", "monday"], "--start"),
    ],
)
def test_bad_arguments_exit_2_naming_them(argv, named, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert named in err.splitlines()[-1]
    assert "Traceback" not in err


def test_without_a_sub_action_the_emulator_serves():
    parsed = _parser().parse_args(["emulator", "--port", "0", "--symbols", "spy"])
    assert parsed.emulator_action is None
    assert parsed.run.__name__ == "run_emulator"
    assert (parsed.port, parsed.symbols) == (0, ("SPY",))


def test_clock_actions_parse():
    advance = _parser().parse_args(["emulator", "clock", "advance", "30m"])
    assert (advance.run.__name__, advance.move, advance.duration) == (
        "run_clock", "advance", timedelta(minutes=30)
    )  # fmt: skip
    to = _parser().parse_args(["emulator", "clock", "set", "next-open"])
    assert (to.move, to.instant) == ("set", NEXT_OPEN)
    assert instant_or_next_open("2026-12-01T10:00:00-05:00").hour == 10


def test_the_clock_line_names_new_york_time_and_the_session():
    line = describe({"timestamp": "2026-12-07T14:30:00Z", "is_open": True})
    assert line.startswith("Mon 2026-12-07 09:30:00 EST")
    assert line.endswith("market open")
    closed = describe({"timestamp": "2026-07-04T01:00:00+00:00", "is_open": False})
    assert "Fri 2026-07-03 21:00:00 EDT" in closed
    assert closed.endswith("market closed")
