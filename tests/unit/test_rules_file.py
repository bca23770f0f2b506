"""The rules file: shipped defaults, user overrides, and errors that name the key."""

from __future__ import annotations

import configparser
import dataclasses
import pickle
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from strikeflow.domain.errors import DomainError
from strikeflow.signals.rules_file import (
    SECTIONS,
    InvalidRules,
    default_rules,
    load_rules,
    rules_from_mapping,
)

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def test_the_defaults_are_the_issue_thresholds():
    rules = load_rules()
    assert rules == default_rules()
    assert rules.day_trade.enabled is True
    assert rules.day_trade.min_confidence == 0.7
    assert rules.day_trade.min_volume_ratio == 3.0
    assert rules.day_trade.min_abs_momentum == 0.02
    assert rules.stock.allow_short is False
    assert rules.swing.enabled is True


def test_the_shipped_file_sets_every_key_and_nothing_else():
    text = resources.files("strikeflow.signals").joinpath("default_rules.toml").read_text()
    doc = tomllib.loads(text)
    expected = {name: {f.name for f in dataclasses.fields(kind)} for name, kind in SECTIONS.items()}
    assert {name: set(keys) for name, keys in doc.items()} == expected


def test_the_defaults_ship_with_the_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "default_rules.toml" in cfg["options.package_data"]["strikeflow.signals"]


def test_an_edited_file_overrides_its_keys_and_keeps_the_rest(tmp_path):
    path = write(
        tmp_path,
        "[day_trade]\nmin_volume_ratio = 4\nmin_confidence = 0.8\n\n[stock]\nallow_short = true\n",
    )
    rules = load_rules(path)
    assert rules.day_trade.min_volume_ratio == 4.0
    assert type(rules.day_trade.min_volume_ratio) is float  # TOML's 4 is a float threshold
    assert rules.day_trade.min_confidence == 0.8
    assert rules.stock.allow_short is True
    defaults = default_rules()
    assert rules.day_trade.min_abs_momentum == defaults.day_trade.min_abs_momentum
    assert rules.features == defaults.features
    assert rules.swing == defaults.swing


def test_an_empty_file_is_the_defaults(tmp_path):
    assert load_rules(write(tmp_path, "# nothing changed\n")) == default_rules()


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[day_trade]\nmin_volume_ratio = "high"\n', "day_trade.min_volume_ratio", "number"),
        ("[day_trade]\nmin_confidence = true\n", "day_trade.min_confidence", "number"),
        ("[day_trade]\nenabled = 1\n", "day_trade.enabled", "true or false"),
        ("[features]\nrsi_period = 14.5\n", "features.rsi_period", "whole number"),
        ("[day_trade]\nmin_volum_ratio = 3.0\n", "day_trade.min_volum_ratio", "is not a key"),
        ("[daytrade]\nmin_confidence = 0.7\n", "daytrade", "is not a section"),
        ("day_trade = 3\n", "day_trade", "must be a table"),
        ("[day_trade]\nmin_confidence = 1.5\n", "day_trade.min_confidence", "<= 1.0"),
        ("[day_trade]\nmin_volume_ratio = -1\n", "day_trade.min_volume_ratio", ">= 0.0"),
        ("[features]\nrsi_period = 1\n", "features.rsi_period", ">= 2"),
        ("[features]\nvolume_lookback = 0\n", "features.volume_lookback", ">= 1"),
        ("[confidence]\nvolume_full = 1.0\n", "confidence.volume_full", "> 1.0"),
        ("[swing]\nmin_consistency = nan\n", "swing.min_consistency", "finite"),
        (
            "[confidence]\nweight_volume = 0\nweight_momentum = 0\nweight_rsi = 0\n"
            "weight_vwap = 0\n",
            "confidence.weight_volume",
            "all 0",
        ),
    ],
)
def test_an_invalid_value_is_refused_naming_its_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(InvalidRules) as err:
        load_rules(path)
    assert err.value.key == key
    assert problem in err.value.problem
    assert str(err.value).startswith(f"rules file {path}: {key} ")


def test_a_file_that_is_not_toml_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, "[day_trade]\nmin_confidence = \n")
    with pytest.raises(InvalidRules, match=r"is not valid TOML: .*line 2") as err:
        load_rules(path)
    assert err.value.key == "file"


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(InvalidRules, match="cannot be read"):
        load_rules(tmp_path / "absent.toml")


def test_the_error_is_a_domain_value_error_that_pickles():
    with pytest.raises(ValueError, match=r"stock\.min_confidence") as err:
        rules_from_mapping({"stock": {"min_confidence": 2}}, source="mine.toml")
    assert isinstance(err.value, DomainError)
    again = pickle.loads(pickle.dumps(err.value))
    assert (again.key, again.problem, again.source) == (
        err.value.key,
        err.value.problem,
        "mine.toml",
    )
    assert str(again) == str(err.value)


def test_sections_validate_when_changed_in_code_too():
    day = default_rules().day_trade
    with pytest.raises(InvalidRules, match=r"day_trade\.min_abs_momentum"):
        dataclasses.replace(day, min_abs_momentum=-0.1)
