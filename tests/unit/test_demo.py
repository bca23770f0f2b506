"""The demo's pure pieces: the day's steps, the day loop over fakes, the settings it
shares with the worker, and the report's labels. The whole demo runs in
tests/integration/test_demo.py."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from strikeflow.cli.demo_day import (
    AFTER_CLOSE,
    FILL_AFTER,
    RECONCILE_EVERY,
    DayTally,
    run_day,
    session_steps,
)
from strikeflow.cli.demo_report import Outcome, group_outcomes, short_reason, trade_label
from strikeflow.cli.demo_stack import EMBEDDED, StackPlan, settings_env, stack_settings
from strikeflow.cli.embedded_results import EMBEDDED_RESULTS
from strikeflow.config import Settings
from strikeflow.domain.expiry import NEW_YORK

THURSDAY = date(2027, 11, 18)


def test_a_full_session_is_scanned_every_minute_while_open():
    steps = session_steps(THURSDAY, 1)
    assert steps[0] == datetime(2027, 11, 18, 9, 31, tzinfo=NEW_YORK)
    assert steps[-1] == datetime(2027, 11, 18, 15, 59, tzinfo=NEW_YORK)
    assert len(steps) == 389
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(steps))


def test_a_longer_step_and_an_early_close():
    assert len(session_steps(THURSDAY, 5)) == 77  # 09:35 ... 15:55
    black_friday = session_steps(date(2027, 11, 26), 1)
    assert black_friday[-1] == datetime(2027, 11, 26, 12, 59, tzinfo=NEW_YORK)


@pytest.mark.parametrize("day", [date(2027, 11, 20), date(2027, 11, 25)])  # Saturday, Thanksgiving
def test_a_closed_day_has_no_steps(day):
    assert session_steps(day, 1) == []


def test_a_step_below_a_minute_is_refused():
    with pytest.raises(ValueError, match="at least one minute"):
        session_steps(THURSDAY, 0)


class FakeClock:
    """The emulator's clock control; every move lands in the shared event log."""

    def __init__(self, events: list[tuple[str, object]]) -> None:
        self.events = events
        self.moves: list[datetime] = []

    def move_clock(self, to: datetime) -> dict:
        self.events.append(("clock", to))
        self.moves.append(to)
        return {"timestamp": to.isoformat()}


class FakeDay:
    """The scan (sends chains at the steps listed, skips a bearish signal at another),
    the wait on chains, and reconcile_orders, all logging to the same events."""

    def __init__(self, sends_at: dict[datetime, list[str]], skip_at: datetime) -> None:
        self.sends_at, self.skip_at = sends_at, skip_at
        self.events: list[tuple[str, object]] = []
        self.reconciles = 0

    def scan(self, at: datetime) -> dict:
        self.events.append(("scan", at))
        skipped = [{"ticker": "SPY", "reason": "no shorting"}] if at == self.skip_at else []
        sent = self.sends_at.get(at, [])
        return {"skipped": None, "sent": sent, "recommendations": sent, "skipped_signals": skipped}

    def wait(self, ids) -> dict[str, str]:
        self.events.append(("wait", tuple(ids)))
        return {i: "rejected" if i == "rec-c" else "executed" for i in ids}

    def reconcile(self) -> int:
        self.events.append(("reconcile", None))
        self.reconciles += 1
        return 1

    def venue_events(self) -> int:
        self.events.append(("events", None))
        return 2


def test_the_day_moves_the_clock_before_each_scan_and_waits_for_what_it_sent():
    steps = session_steps(THURSDAY, 30)
    day = FakeDay({steps[1]: ["rec-a", "rec-b"], steps[3]: ["rec-c"]}, skip_at=steps[2])
    clock = FakeClock(day.events)
    tally = DayTally()
    seen = [
        at
        for at, _ in run_day(
            clock, day.scan, day.reconcile, day.wait, steps, tally, venue_events=day.venue_events
        )
    ]

    assert seen == steps
    assert [at for kind, at in day.events if kind == "scan"] == steps
    nudged = {steps[1], steps[3]}  # the steps that sent orders: a fill try 2 s later
    expected = [m for at in steps for m in ([at, at + FILL_AFTER] if at in nudged else [at])]
    close = datetime.combine(THURSDAY, time(16), NEW_YORK)
    assert clock.moves == [*expected, close + AFTER_CLOSE]  # past the close, whatever the step
    # each step: the clock, then the scan, then the wait on exactly what it sent
    assert day.events[:3] == [("clock", steps[0]), ("scan", steps[0]), ("wait", ())]
    second = day.events.index(("scan", steps[1]))
    assert day.events[second + 1 : second + 3] == [
        ("wait", ("rec-a", "rec-b")),
        ("clock", steps[1] + FILL_AFTER),
    ]
    ends = [("clock", close + AFTER_CLOSE), ("reconcile", None), ("events", None)]
    assert day.events[-3:] == ends
    assert tally.venue_events == 2
    assert tally.sent == ["rec-a", "rec-b", "rec-c"]
    assert tally.statuses == {"executed": 2, "rejected": 1}
    assert tally.skipped_signals == {"no shorting": 1}
    assert day.reconciles == len(steps) // RECONCILE_EVERY + 1
    assert tally.fills_recorded == day.reconciles
    assert "3 chains" in tally.line()
    assert "2 executed, 1 rejected" in tally.line()


def test_a_skipped_scan_is_counted_and_sends_nothing():
    steps = session_steps(THURSDAY, 60)[:2]
    tally = DayTally()
    list(
        run_day(
            FakeClock([]),
            lambda at: {"skipped": "market closed", "sent": []},
            lambda: 0,
            lambda ids: {},
            steps,
            tally,
        )
    )
    assert (tally.scans, tally.skipped_scans, tally.sent) == (2, 2, [])


def plan(**env: str) -> StackPlan:
    return StackPlan(
        seed=7,
        watchlist=("SPY", "AAPL"),
        start=datetime(2027, 11, 18, 9, 30, tzinfo=NEW_YORK),
        db_path=Path("demo.db"),
        log_path=Path("demo.log"),
        minutes=(),
        env=env,
    )


def test_embedded_settings_need_no_server():
    settings = stack_settings(plan(), "http://127.0.0.1:5555")
    assert settings.broker_url == EMBEDDED
    assert settings.redis_url == EMBEDDED
    assert settings.result_backend == EMBEDDED_RESULTS
    assert settings.database_url == f"sqlite:///{Path('demo.db').resolve()}"
    assert settings.alpaca_base_url == "http://127.0.0.1:5555"
    assert settings.clock == "market"


def test_a_broker_and_a_database_in_the_environment_switch_both():
    env = {
        "STRIKEFLOW_BROKER_URL": "redis://127.0.0.1:6379/6",
        "STRIKEFLOW_DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1/x",
        "STRIKEFLOW_RESULT_BACKEND": "redis://127.0.0.1:6379/7",
        "STRIKEFLOW_REDIS_URL": "redis://127.0.0.1:6379/7",
    }
    settings = stack_settings(plan(**env), "http://127.0.0.1:5555")
    assert plan(**env).external
    assert (settings.broker_url, settings.database_url) == (
        env["STRIKEFLOW_BROKER_URL"],
        env["STRIKEFLOW_DATABASE_URL"],
    )
    assert settings.redis_url == env["STRIKEFLOW_REDIS_URL"]
    assert settings.alpaca_base_url == "http://127.0.0.1:5555"  # the venue is still ours


def test_a_broker_alone_does_not_leave_the_embedded_stack():
    only_broker = plan(STRIKEFLOW_BROKER_URL="redis://127.0.0.1:6379/6")
    assert not only_broker.external
    assert stack_settings(only_broker, "http://x").broker_url == EMBEDDED


def test_the_exported_environment_reads_back_as_the_same_settings(monkeypatch):
    settings = stack_settings(plan(), "http://127.0.0.1:5555")
    env = settings_env(settings)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings
    assert env["STRIKEFLOW_ALPACA_SECRET_KEY"] != "**********"


@pytest.mark.parametrize(
    ("status", "reason", "shown"),
    [
        (
            "rejected",
            "rejected: strikeflow.size_position: DispatchRejected: risk: too late",
            "size_position: DispatchRejected: risk: too late",
        ),
        ("fell_back", "no eligible contract: 12 spread", "no eligible contract: 12 spread"),
        ("rejected", "bearish STOCK signal on SPY", "bearish STOCK signal on SPY"),
    ],
)
def test_reasons_drop_the_repeated_status_and_the_task_prefix(status, reason, shown):
    assert short_reason(status, reason) == shown


def test_trade_labels():
    assert trade_label("CALL", "day_trade") == "CALL day"
    assert trade_label("PUT", "swing_trade") == "PUT swing"
    assert trade_label("STOCK", None) == "STOCK"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--date", "someday"], "--date"),
        (["--date", "2027-11-25"], "not a trading day"),  # Thanksgiving
        (["--watchlist", "BRK.B"], "--watchlist"),
        (["--watchlist", " , "], "--watchlist"),
        (["--step", "0"], "--step"),
        (["--db", "/no/such/dir/demo.db"], "no such directory"),
    ],
)
def test_bad_arguments_are_usage_errors_before_anything_starts(
    args, named, capsys, tmp_path, monkeypatch
):
    from strikeflow.cli import main

    monkeypatch.chdir(tmp_path)  # where a started demo would write its file
    with pytest.raises(SystemExit) as exited:
        main(["demo", *args])
    assert exited.value.code == 2
    assert named in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_outcomes_alike_but_for_their_figures_are_one_group_in_first_seen_order():
    def at(hour, minute):
        return datetime(2027, 4, 15, hour, minute, tzinfo=NEW_YORK)

    exposure = "size_position: risk: TSLA exposure {} + order {} exceeds the maximum 25000"
    rows = [
        Outcome(at(9, 50), "TSLA", "PUT swing", "rejected", exposure.format("17250.00", "14220")),
        Outcome(at(9, 55), "QQQ", "STOCK", "rejected", "bearish STOCK signal on QQQ"),
        Outcome(at(10, 5), "TSLA", "PUT swing", "rejected", exposure.format("17250.00", "13900")),
        Outcome(at(10, 20), "TSLA", "PUT swing", "fell_back", exposure.format("1", "2")),
        Outcome(at(15, 55), "TSLA", "PUT swing", "rejected", exposure.format("9", "8")),
    ]
    groups = group_outcomes(rows)
    assert [(g.first.at, g.last_at, g.count) for g in groups] == [
        (at(9, 50), at(15, 55), 3),
        (at(9, 55), at(9, 55), 1),
        (at(10, 20), at(10, 20), 1),  # another outcome is another group
    ]
    assert groups[0].first.reason == rows[0].reason  # the first one's figures are shown
