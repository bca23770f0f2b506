"""The emulator's data plan: Basic refuses recent SIP (named, or by default for bars) and
OPRA with Alpaca's 403s; Unlimited, the default, refuses nothing. ``--plan`` picks it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strikeflow.cli import _parser, main
from strikeflow.sim.data_plan import OPRA_REFUSED, SIP_REFUSED, DataPlan
from strikeflow.sim.http_common import ClientError
from strikeflow.sim.serve import EmulatorOptions

NOW = datetime(2026, 11, 19, 15, 45, tzinfo=UTC)
BASIC, UNLIMITED = DataPlan("basic"), DataPlan()


def refusal(check, *args) -> ClientError:
    with pytest.raises(ClientError) as refused:
        check(*args)
    assert refused.value.status == 403
    return refused.value


@pytest.mark.parametrize("feed", [None, "sip"])
def test_basic_refuses_recent_sip_bars(feed):
    assert refusal(BASIC.check_stock_history, feed, NOW, NOW).message == SIP_REFUSED
    just_inside = NOW - timedelta(minutes=14, seconds=59)
    assert refusal(BASIC.check_stock_history, feed, just_inside, NOW).message == SIP_REFUSED


@pytest.mark.parametrize("feed", ["iex", "delayed_sip"])
def test_basic_serves_iex_and_delayed_bars_up_to_now(feed):
    BASIC.check_stock_history(feed, NOW, NOW)


def test_basic_serves_sip_older_than_15_minutes():
    BASIC.check_stock_history("sip", NOW - timedelta(minutes=15), NOW)
    BASIC.check_stock_history(None, NOW - timedelta(hours=2), NOW)


def test_basic_latest_data_defaults_to_iex_and_refuses_sip_named():
    BASIC.check_stock_latest(None)
    BASIC.check_stock_latest("iex")
    assert refusal(BASIC.check_stock_latest, "sip").message == SIP_REFUSED


def test_basic_refuses_opra_and_serves_indicative():
    assert refusal(BASIC.check_options, "opra").message == OPRA_REFUSED
    BASIC.check_options("indicative")
    BASIC.check_options(None)


def test_unlimited_refuses_nothing_and_is_the_default():
    assert EmulatorOptions().plan == "unlimited"
    UNLIMITED.check_stock_history(None, NOW, NOW)
    UNLIMITED.check_stock_history("sip", NOW, NOW)
    UNLIMITED.check_stock_latest("sip")
    UNLIMITED.check_options("opra")


def test_an_unknown_plan_is_refused():
    with pytest.raises(ValueError, match="plan must be one of"):
        EmulatorOptions(plan="gold")  # type: ignore[arg-type]


def test_the_cli_takes_a_plan():
    assert _parser().parse_args(["emulator", "--plan", "basic"]).plan == "basic"
    assert _parser().parse_args(["emulator"]).plan == "unlimited"


def test_a_bad_plan_exits_2_naming_the_option(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["emulator", "--plan", "gold"])
    assert stopped.value.code == 2
    assert "--plan" in capsys.readouterr().err.splitlines()[-1]
