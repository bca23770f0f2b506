"""The rules file's ``[exits]`` section: the shipped defaults, overrides, "off", and
errors that name the key."""

from __future__ import annotations

import tomllib
from datetime import time
from importlib import resources
from pathlib import Path

import pytest

from strikeflow.domain.enums import InstrumentType, StrategyType
from strikeflow.domain.exit_rules import ExitRules
from strikeflow.domain.venue_rules import EARLIEST_ZERO_DTE_CUTOFF
from strikeflow.signals import rules_file
from strikeflow.signals.rules_file import (
    InvalidRules,
    default_rules,
    exit_keys,
    load_rules,
    rules_from_mapping,
)

DAY, SWING = StrategyType.DAY_TRADE, StrategyType.SWING_TRADE
CALL, PUT, STOCK = InstrumentType.CALL, InstrumentType.PUT, InstrumentType.STOCK


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def test_the_shipped_defaults():
    exits = default_rules().exits
    assert exits.for_position(DAY, CALL) == ExitRules(
        take_profit_pct=50,
        stop_loss_pct=35,
        trailing_stop_pct=20,
        trailing_arm_pct=30,
        time_exit=time(15, 10),
        close_at_dte=None,
        underlying_stop_pct=1.5,
        theta_max_pct=None,
        max_holding_hours=None,
        max_quote_age_s=60,
    )
    assert exits.for_position(DAY, PUT) is exits.for_position(DAY, CALL)
    assert exits.for_position(SWING, PUT) == ExitRules(
        take_profit_pct=80,
        stop_loss_pct=50,
        trailing_stop_pct=25,
        trailing_arm_pct=40,
        time_exit=None,
        close_at_dte=1,
        underlying_stop_pct=5,
        theta_max_pct=15,
        max_holding_hours=None,
        max_quote_age_s=60,
    )
    assert exits.for_position(DAY, STOCK) == ExitRules(
        take_profit_pct=3, stop_loss_pct=1.5, time_exit=time(15, 50), max_quote_age_s=60
    )
    assert exits.for_position(SWING, STOCK) == ExitRules(
        take_profit_pct=10,
        stop_loss_pct=5,
        trailing_stop_pct=5,
        trailing_arm_pct=5,
        max_holding_hours=720,
        max_quote_age_s=60,
    )
    assert exits.for_position(None, STOCK) is exits.for_position(SWING, STOCK)


def test_the_day_trade_option_exit_comes_before_the_venues_zero_dte_cut_off():
    time_exit = default_rules().exits.for_position(DAY, CALL).time_exit
    assert time_exit is not None
    assert time_exit < EARLIEST_ZERO_DTE_CUTOFF


def test_the_shipped_file_sets_every_exit_key_and_nothing_else():
    text = resources.files("strikeflow.signals").joinpath("default_rules.toml").read_text()
    exits = tomllib.loads(text)["exits"]
    assert {s: {k: set(t) for k, t in kinds.items()} for s, kinds in exits.items()} == {
        strategy: {kind: set(exit_keys(kind)) for kind in ("option", "stock")}
        for strategy in ("day_trade", "swing_trade")
    }


def test_an_edited_file_overrides_its_exit_keys_and_keeps_the_rest(tmp_path):
    path = write(
        tmp_path,
        "[exits.day_trade.option]\n"
        "take_profit_pct = 40\n"
        'time_exit = "14:45"\n'
        'stop_loss_pct = "off"\n'
        "\n[exits.swing_trade.stock]\nmax_holding_hours = 240\n",
    )
    exits, defaults = load_rules(path).exits, default_rules().exits
    day = exits.for_position(DAY, CALL)
    assert day.take_profit_pct == 40.0
    assert type(day.take_profit_pct) is float
    assert day.time_exit == time(14, 45)
    assert day.stop_loss_pct is None
    assert day.trailing_stop_pct == defaults.for_position(DAY, CALL).trailing_stop_pct
    assert exits.for_position(SWING, STOCK).max_holding_hours == 240.0
    assert exits.for_position(SWING, CALL) == defaults.for_position(SWING, CALL)
    assert exits.day_trade.stock == defaults.day_trade.stock


def test_a_file_without_exits_gets_the_default_exits(tmp_path):
    path = write(tmp_path, "[day_trade]\nmin_confidence = 0.8\n")
    assert load_rules(path).exits == default_rules().exits


def test_every_rule_can_be_turned_off():
    off = {key: "off" for key in exit_keys("option") if key not in ("trailing_arm_pct",)}
    off.pop("max_quote_age_s")
    rules = rules_from_mapping({"exits": {"swing_trade": {"option": off}}})
    swing = rules.exits.for_position(SWING, CALL)
    assert swing == ExitRules(trailing_arm_pct=swing.trailing_arm_pct)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        pytest.param(
            "[exits.day_trade.option]\ntake_profit_pct = 0\n",
            "exits.day_trade.option.take_profit_pct",
            "must be > 0",
            id="0 is not off",
        ),
        pytest.param(
            '[exits.day_trade.option]\ntake_profit_pct = "high"\n',
            "exits.day_trade.option.take_profit_pct",
            'must be a number or "off"',
            id="text",
        ),
        pytest.param(
            "[exits.day_trade.option]\nstop_loss_pct = true\n",
            "exits.day_trade.option.stop_loss_pct",
            "must be a number",
            id="boolean",
        ),
        pytest.param(
            "[exits.day_trade.option]\nstop_loss_pct = 120\n",
            "exits.day_trade.option.stop_loss_pct",
            "within 0-100",
            id="stop beyond -100%",
        ),
        pytest.param(
            "[exits.swing_trade.option]\ntrailing_stop_pct = nan\n",
            "exits.swing_trade.option.trailing_stop_pct",
            "finite",
            id="nan",
        ),
        pytest.param(
            '[exits.swing_trade.option]\ntrailing_arm_pct = "off"\n',
            "exits.swing_trade.option.trailing_arm_pct",
            "must be a number, got 'off'",
            id="the arm is a figure, not a rule",
        ),
        pytest.param(
            '[exits.day_trade.option]\ntime_exit = "3:10pm"\n',
            "exits.day_trade.option.time_exit",
            'New York time "HH:MM"',
            id="time format",
        ),
        pytest.param(
            "[exits.day_trade.option]\ntime_exit = 15:10:00\n",
            "exits.day_trade.option.time_exit",
            "HH:MM",
            id="a TOML time is not text",
        ),
        pytest.param(
            '[exits.day_trade.option]\ntime_exit = "24:00"\n',
            "exits.day_trade.option.time_exit",
            "HH:MM",
            id="hour 24",
        ),
        pytest.param(
            "[exits.swing_trade.option]\nclose_at_dte = 1.5\n",
            "exits.swing_trade.option.close_at_dte",
            "whole number of days",
            id="fractional dte",
        ),
        pytest.param(
            "[exits.swing_trade.option]\nclose_at_dte = 45\n",
            "exits.swing_trade.option.close_at_dte",
            "0-30",
            id="dte out of range",
        ),
        pytest.param(
            "[exits.swing_trade.option]\nmax_quote_age_s = 0\n",
            "exits.swing_trade.option.max_quote_age_s",
            "within 1-3600",
            id="quote age 0",
        ),
        pytest.param(
            "[exits.day_trade.option]\ntake_proft_pct = 50\n",
            "exits.day_trade.option.take_proft_pct",
            "is not a key (known: take_profit_pct,",
            id="typo",
        ),
        pytest.param(
            "[exits.day_trade.stock]\nclose_at_dte = 1\n",
            "exits.day_trade.stock.close_at_dte",
            "is not a key",
            id="an option rule for a share",
        ),
        pytest.param(
            "[exits.day_trade.options]\ntake_profit_pct = 50\n",
            "exits.day_trade.options",
            "is not a key (known: option, stock)",
            id="unknown kind",
        ),
        pytest.param(
            "[exits.daytrade.option]\ntake_profit_pct = 50\n",
            "exits.daytrade",
            "is not a key (known: day_trade, swing_trade)",
            id="unknown strategy",
        ),
        pytest.param(
            "[exits]\nday_trade = 3\n",
            "exits.day_trade",
            "must be a table",
            id="strategy not a table",
        ),
        pytest.param(
            "[exits.day_trade]\noption = 3\n",
            "exits.day_trade.option",
            "must be a table",
            id="kind not a table",
        ),
        pytest.param("exits = 3\n", "exits", "must be a table", id="exits not a table"),
    ],
)
def test_an_invalid_exit_value_is_refused_naming_its_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(InvalidRules) as err:
        load_rules(path)
    assert err.value.key == key
    assert problem in err.value.problem
    message = str(err.value)
    assert message.startswith(f"rules file {path}: {key} ")
    assert "\n" not in message


def test_the_defaults_file_itself_must_set_every_exit_key():
    text = resources.files("strikeflow.signals").joinpath("default_rules.toml").read_text()
    doc = tomllib.loads(text)
    del doc["exits"]["swing_trade"]["stock"]["stop_loss_pct"]
    with pytest.raises(InvalidRules, match=r"exits\.swing_trade\.stock\.stop_loss_pct is missing"):
        rules_file._build(doc, None, "default_rules.toml")
