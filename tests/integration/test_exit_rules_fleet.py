"""Every exit rule end to end: entries bought through the pipeline on real worker
subprocesses, real PostgreSQL and real alpaca-py against the emulator; then
``strikeflow.manage_positions`` decides on a worker, the closing chain sells, and each
close must end as a CLOSE row linked to its entry, its realized P&L written (a loss for
a stop, a gain for a take profit), the rule kept on the close's recommendation and the
venue holding nothing more of the symbol. (The option take profit: test_manage_positions.)

A rules file has four exit tables, one per strategy and instrument kind, and every
held entry is judged by the table of its own: one file isolates at most four rules at a
time. So the fleet has one judge worker per rules file (its own queue, its own
STRIKEFLOW_RULES_FILE), and the module walks eleven simulated days in four phases, each
judged by one of them, each table leaving only the rule under test on:

- Thursday: option stop loss (day), theta (swing), stock stop (day), stock take profit
  (a stock with no strategy follows the swing table);
- Friday: trailing stop (day), underlying stop (swing);
- Monday: time exit 15:10 (day option), maximum holding time (swing), end of day 15:50
  (day stock), each checked silent the minute before it fires;
- Tuesday, then the first trading day the swing contract is at 1 DTE: the expiry rule,
  checked silent the trading day before.

Where the rule needs the market to move one way, a CALL and a PUT (or two stocks) are
bought and the first to fire is followed; no entry of a phase may ever fire another rule
than its own. An entry a phase leaves held is judged by the next phase's rules and not
asserted on. A close is worked by the venue after its order delay, as a marketable order
is at once at a real venue (``Exits.worked``). Everything waits by polling with a
deadline, but for the second a worker keeps its reading of the venue's clock after the
clock jumps to another day (``Exits.next_day``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal

import pytest
from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    PositionEffect,
    RecommendationSource,
    RecommendationStatus,
)
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.records import Execution
from strikeflow.services.closing_ids import order_id_of
from strikeflow.signals.rules_file import exit_keys, load_rules
from strikeflow.sim.serve import DEFAULT_SYMBOLS, EmulatorOptions
from strikeflow.tasks.scan import parse_instant
from tests.integration.emulator import KEY, SECRET
from tests.integration.test_closing_chain import MARKET_CLOCK_TTL_S, venue_holds
from tests.integration.test_pipeline import DBS, DEADLINE_S, ORDERS, PIPELINE, Pipeline
from tests.one_price import ONE_PRICE_ENV

MANAGE = "strikeflow.manage_positions"
FEE = Decimal("0.65")
THURSDAY = datetime(2037, 11, 12, 10, 45, tzinfo=NEW_YORK)
FRIDAY, MONDAY, TUESDAY = (THURSDAY + timedelta(days=n) for n in (1, 4, 5))
MAX_MINUTES = 240
WORKED_S = 1  # the emulator's fill delay (fill_delay_s): an order placed is worked then
OFF_KEYS = {
    kind: [k for k in exit_keys(kind) if k not in ("trailing_arm_pct", "max_quote_age_s")]
    for kind in ("option", "stock")
}

PACKAGED = "packaged default"  # a rule left on at the value the package ships with
# Each phase's rules: (strategy, kind) -> the one rule left on. Every other switch is off.
PHASES: dict[str, dict[tuple[str, str], dict[str, object]]] = {
    "thursday": {
        ("day_trade", "option"): {"stop_loss_pct": 10},
        ("swing_trade", "option"): {"theta_max_pct": 1},
        ("day_trade", "stock"): {"stop_loss_pct": 0.02},
        ("swing_trade", "stock"): {"take_profit_pct": 0.02},
    },
    "friday": {
        ("day_trade", "option"): {"trailing_stop_pct": 5, "trailing_arm_pct": 1},
        ("swing_trade", "option"): {"underlying_stop_pct": 0.05},
    },
    "monday": {
        ("day_trade", "option"): {"time_exit": PACKAGED},  # 15:10
        ("swing_trade", "option"): {"max_holding_hours": 2},
        ("day_trade", "stock"): {"time_exit": PACKAGED},  # 15:50
    },
    "tuesday": {("swing_trade", "option"): {"close_at_dte": 1}},
}


def rules_text(on: dict[tuple[str, str], dict[str, object]]) -> str:
    """A rules file whose four exit tables turn every rule off but those in ``on``."""
    lines = []
    for strategy in ("day_trade", "swing_trade"):
        for kind in ("option", "stock"):
            lines.append(f"[exits.{strategy}.{kind}]")
            chosen = on.get((strategy, kind), {})
            for key in OFF_KEYS[kind]:
                if key not in chosen:
                    lines.append(f'{key} = "off"')
            for key, value in chosen.items():
                if value == PACKAGED:
                    continue
                lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
    return "\n".join(lines) + "\n"


class Exits(Pipeline):
    """The pipeline with a judge worker per phase, driven minute by minute."""

    def manage(self, phase: str, at: datetime) -> dict:
        sent = self.fleet.app.send_task(
            MANAGE, kwargs={"at": at.isoformat()}, queue=f"exits-{phase}"
        )
        outcome = sent.get(timeout=DEADLINE_S)
        assert outcome["skipped"] is None, outcome
        return outcome

    def next_day(self, at: datetime) -> None:
        """The clock moved on to ``at``, a later day. A worker reads the venue's clock at
        most once a second and carries a reading on by wall time in between: until that
        reading has expired, an entry dispatched would be judged on the day before (its
        days to expiry, the market hours). The wait is that second, no synchronisation."""
        self.move(to=at.isoformat())
        time.sleep(MARKET_CLOCK_TTL_S)

    def move(self, **body) -> datetime:
        moved = self.venue.advance(**body)
        assert moved["is_open"], f"the market is closed at {moved['timestamp']}"
        return parse_instant(moved["timestamp"])

    def enter(self, *orders: tuple[str, str, str, str | None]) -> list[Execution]:
        """Every order dispatched at once, worked by the venue after its order delay, then
        five minutes a step until all filled (a limit the quote moved away from rests)."""
        rids = [self.recommend(*order) for order in orders]
        for rid in rids:
            self.dispatch(rid)
        for rid in rids:
            rec = self.terminal(rid)
            assert rec.status is RecommendationStatus.EXECUTED, (rid, rec.status_reason)

        self.venue.advance(seconds=WORKED_S)

        def advance_and_reconcile() -> list[Execution | None]:
            self.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
            rows = [self.execution(rid) for rid in rids]
            if not all(e is not None and e.status is ExecutionStatus.FILLED for e in rows):
                self.venue.advance(seconds=300)
            return rows

        return self._poll(
            advance_and_reconcile,
            lambda rows: all(e is not None and e.status is ExecutionStatus.FILLED for e in rows),
        )

    def worked(self, rids: list[str]) -> None:
        """Once the closes are placed, the venue's order delay and no more: a marketable
        order fills at the quote it was priced on, as it would at once at a real venue
        (a minute later, the quote may have moved away from its limit)."""
        for rid in rids:
            self.terminal(rid)
        self.venue.advance(seconds=WORKED_S)

    def placed(self, rid: str) -> bool:
        """Whether the close recommendation ended with its order placed."""
        return self.terminal(rid).status is RecommendationStatus.EXECUTED

    def filled(self, rid: str) -> bool:
        """Whether the close's order is on record as filled."""
        close = self.executions.by_client_order_id(order_id_of(rid))
        return close is not None and close.status is ExecutionStatus.FILLED

    def settled(self, rid: str) -> Execution:
        """The close's row once filled, simulated time moving a minute a step."""

        def advance_and_reconcile() -> Execution | None:
            self.venue.advance(seconds=60)
            self.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
            return self.executions.by_client_order_id(order_id_of(rid))

        return self._poll(
            advance_and_reconcile, lambda e: e is not None and e.status is ExecutionStatus.FILLED
        )


@dataclass(frozen=True)
class Fired:
    """An exit decided for an entry of the phase: the entry and the manage run's line."""

    entry: Execution
    exit: dict


@pytest.fixture(scope="module")
def exits(create_database, tmp_path_factory) -> Iterator[Exits]:
    url = create_database("postgresql")
    upgrade(url, "heads")
    DBS.flush()
    folder = tmp_path_factory.mktemp("exit-rules")
    judges = []
    for phase, on in PHASES.items():
        path = folder / f"{phase}.toml"
        path.write_text(rules_text(on), encoding="utf-8")
        load_rules(path)  # a file the workers would refuse fails here, by its key
        judges.append(
            WorkerSpec(
                f"sf-it-exits-{phase}",
                (f"exits-{phase}",),
                env={"STRIKEFLOW_RULES_FILE": str(path)},
            )
        )
    options = EmulatorOptions(
        seed=42,
        symbols=(*DEFAULT_SYMBOLS, "AMD"),
        start=THURSDAY,
        api_key=KEY,
        secret_key=SECRET,
        fill_delay_s=WORKED_S,
    )
    emulator = InProcessEmulator(options)
    emulator.start()
    config = FleetConfig(
        database_url=url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("exit-rules-logs"),
        api_key=KEY,
        secret_key=SECRET,
        env={
            **ONE_PRICE_ENV,
            "STRIKEFLOW_RETRY_DEADLINE_S": "2",
            "STRIKEFLOW_CLOSE_FEE_PER_CONTRACT": str(FEE),
            "STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER": "0",
            "STRIKEFLOW_RISK_MAX_DAILY_REALIZED_LOSS": "0",
        },
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([PIPELINE, ORDERS, *judges])
        yield Exits(fleet, emulator, url)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


def manage_until_fired(
    exits: Exits, phase: str, wanted: dict[str, tuple[str, list[Execution]]]
) -> dict[str, Fired]:
    """A minute at a time, until each wanted rule fired on one of its entries; no entry
    of the phase may ever be closed by another rule than its own."""
    owner = {e.id: name for name, (_, entries) in wanted.items() for e in entries}
    by_id = {e.id: e for _, entries in wanted.values() for e in entries}
    fired: dict[str, Fired] = {}
    for _ in range(MAX_MINUTES):
        outcome = exits.manage(phase, exits.move(seconds=60))
        sent = []
        for line in outcome["exits"]:
            name = owner.get(line["execution_id"])
            if name is None:
                continue  # an entry of an earlier phase, judged by this phase's rules
            assert line["rule"] == wanted[name][0], line
            if line["sent"]:
                sent.append(line["recommendation_id"])
                fired.setdefault(name, Fired(by_id[line["execution_id"]], line))
        if sent:
            exits.worked(sent)
        if len(fired) == len(wanted):
            return fired
    missing = sorted(set(wanted) - set(fired))
    raise AssertionError(f"{phase}: {missing} did not fire in {MAX_MINUTES} minutes")


def closed_by(exits: Exits, fired: Fired, rule: str) -> tuple[Execution, dict]:
    """The close the rule sent, filled: linked to its entry, its P&L to the cent, the
    rule on its recommendation, nothing left at the venue. Returns it and the rule's
    figures."""
    entry, line = fired.entry, fired.exit
    assert line["rule"] == rule
    assert line["recommendation_id"] == f"close-{entry.id}-1"
    rec = exits.terminal(line["recommendation_id"])
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    assert (rec.action, rec.source) == (Action.SELL, RecommendationSource.EXIT)
    assert rec.features["exit"]["rule"] == rule
    assert rec.features["closes_execution_id"] == entry.id
    close = exits.settled(line["recommendation_id"])
    assert close.position_effect is PositionEffect.CLOSE
    assert close.closes_execution_id == entry.id
    assert close.filled_qty == entry.filled_qty
    option = entry.option_symbol is not None
    multiplier, fees = (100, FEE * close.filled_qty) if option else (1, Decimal(0))
    gross = (close.filled_avg_price - entry.filled_avg_price) * multiplier * close.filled_qty
    assert close.realized_pnl == gross - fees
    assert venue_holds(exits, entry.option_symbol or entry.ticker) == 0
    return close, rec.features["exit"]["figures"]


# -- Thursday: stops, theta, the stock take profit ------------------------------------


@pytest.fixture(scope="module")
def thursday(exits) -> dict[str, Fired]:
    entries = exits.enter(
        ("SPY", "BUY", "CALL", "day_trade"),
        ("SPY", "SELL", "PUT", "day_trade"),
        ("QQQ", "BUY", "CALL", "swing_trade"),
        ("TSLA", "BUY", "STOCK", "day_trade"),
        ("NVDA", "BUY", "STOCK", "day_trade"),
        ("MSFT", "BUY", "STOCK", None),
        ("AAPL", "BUY", "STOCK", None),
    )
    spy_call, spy_put, qqq_swing, tsla, nvda, msft, aapl = entries
    return manage_until_fired(
        exits,
        "thursday",
        {
            "stop_loss": ("stop_loss", [spy_call, spy_put]),
            "theta": ("theta", [qqq_swing]),
            "stock_stop": ("stop_loss", [tsla, nvda]),
            "stock_take_profit": ("take_profit", [msft, aapl]),
        },
    )


def test_an_option_stop_loss_closes_at_a_loss(exits, thursday):
    close, figures = closed_by(exits, thursday["stop_loss"], "stop_loss")
    assert figures["pnl_pct"] <= figures["limit_pct"] == -10
    assert close.realized_pnl < 0


def test_the_theta_rule_closes_a_swing_option_decaying_too_fast(exits, thursday):
    fired = thursday["theta"]
    assert fired.entry.strategy_type.value == "swing_trade"
    _close, figures = closed_by(exits, fired, "theta")
    assert figures["decay_pct"] >= figures["limit_pct"] == 1
    assert figures["theta"] < 0


def test_a_stock_stop_closes_a_day_trade_at_a_loss(exits, thursday):
    close, figures = closed_by(exits, thursday["stock_stop"], "stop_loss")
    assert close.option_symbol is None
    assert figures["pnl_pct"] <= figures["limit_pct"] == -0.02
    assert close.realized_pnl < 0


def test_a_stock_take_profit_closes_at_a_gain(exits, thursday):
    close, figures = closed_by(exits, thursday["stock_take_profit"], "take_profit")
    assert close.option_symbol is None
    assert figures["pnl_pct"] >= figures["limit_pct"] == 0.02
    assert close.realized_pnl > 0


# -- Friday: the trailing stop and the underlying stop --------------------------------


@pytest.fixture(scope="module")
def friday(exits, thursday) -> dict[str, Fired]:
    exits.next_day(FRIDAY)
    day_call, day_put, swing_call, swing_put = exits.enter(
        ("QQQ", "BUY", "CALL", "day_trade"),
        ("QQQ", "SELL", "PUT", "day_trade"),
        ("SPY", "BUY", "CALL", "swing_trade"),
        ("SPY", "SELL", "PUT", "swing_trade"),
    )
    return manage_until_fired(
        exits,
        "friday",
        {
            "trailing_stop": ("trailing_stop", [day_call, day_put]),
            "underlying_stop": ("underlying_stop", [swing_call, swing_put]),
        },
    )


def test_a_trailing_stop_closes_below_the_high_water_mark(exits, friday):
    fired = friday["trailing_stop"]
    close, figures = closed_by(exits, fired, "trailing_stop")
    entry_price = float(fired.entry.filled_avg_price)
    assert figures["high_water"] >= entry_price * 1.01  # armed: 1 % above the premium
    assert figures["drop_pct"] >= figures["limit_pct"] == 5
    assert figures["mark"] < figures["high_water"]
    assert float(close.filled_avg_price) < figures["high_water"]
    with engine_for(exits.url).connect() as conn:  # the mark kept across minutes
        kept = conn.execute(
            text("SELECT high_water_mark FROM dispatch_executions WHERE id = :id"),
            {"id": fired.entry.id},
        ).scalar_one()
    assert float(kept) >= figures["high_water"]


def test_an_underlying_stop_closes_a_swing_option_at_a_loss(exits, friday):
    fired = friday["underlying_stop"]
    close, figures = closed_by(exits, fired, "underlying_stop")
    against = (
        -figures["move_pct"] if fired.entry.instrument_type.value == "CALL" else figures["move_pct"]
    )
    assert against >= 0.05
    assert close.realized_pnl < 0


# -- Monday: the clock's rules, each silent the minute before ------------------------


@pytest.fixture(scope="module")
def monday(exits, friday) -> dict[str, Fired]:
    exits.next_day(MONDAY)
    day_call, day_put, swing_call, day_stock = exits.enter(
        ("QQQ", "BUY", "CALL", "day_trade"),
        ("QQQ", "SELL", "PUT", "day_trade"),
        ("SPY", "BUY", "CALL", "swing_trade"),
        ("AMD", "BUY", "STOCK", "day_trade"),  # a ticker no option of the module settles in
    )
    day = MONDAY.date()
    at_1510, at_1550 = (datetime.combine(day, clock_time(15, m), NEW_YORK) for m in (10, 50))
    held_until = _next_minute(swing_call.filled_at + timedelta(hours=2))
    events = sorted(
        [
            (held_until, "max_holding", [swing_call]),
            # A CALL and a PUT: by 15:10 one of them may be worth nothing (bid 0), and
            # no sell order fills then; the other is worth something and is sold.
            (at_1510, "time_of_day", [day_call, day_put]),
            (at_1550, "time_of_day", [day_stock]),
        ],
        key=lambda event: event[0],
    )
    mine = {e.id: e for e in (day_call, day_put, swing_call, day_stock)}
    fired: dict[str, Fired] = {}
    for at, rule, entries in events:
        before = exits.manage("monday", exits.move(to=(at - timedelta(minutes=1)).isoformat()))
        assert not [x for x in before["exits"] if x["execution_id"] in mine], before
        outcome = exits.manage("monday", exits.move(to=at.isoformat()))
        lines = [x for x in outcome["exits"] if x["execution_id"] in mine]
        assert sorted((x["execution_id"], x["rule"], x["sent"]) for x in lines) == sorted(
            (e.id, rule, True) for e in entries
        ), outcome
        exits.worked([x["recommendation_id"] for x in lines])
        exits.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
        sold = [x for x in lines if exits.filled(x["recommendation_id"])]
        assert sold, f"no close of {[e.id for e in entries]} filled at {at}"
        name = "stock_end_of_day" if entries == [day_stock] else rule
        fired[name] = Fired(mine[sold[0]["execution_id"]], sold[0])
        for entry in entries:
            mine.pop(entry.id)
    return fired


def _next_minute(at: datetime) -> datetime:
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)


def test_a_day_trade_option_is_closed_at_the_time_exit(exits, monday):
    fired = monday["time_of_day"]
    _close, figures = closed_by(exits, fired, "time_of_day")
    assert (figures["now"], figures["time_exit"]) == ("15:10", "15:10")
    assert fired.exit["reason"].startswith("time of day: 15:10 ET is at or past 15:10 ET")


def test_a_swing_option_is_closed_after_the_maximum_holding_time(exits, monday):
    fired = monday["max_holding"]
    _close, figures = closed_by(exits, fired, "max_holding")
    assert figures["limit_hours"] == 2
    assert 2 <= figures["held_hours"] <= 2.02  # the first minute at or past 2 h, rounded


def test_a_day_trade_stock_is_closed_at_the_end_of_day(exits, monday):
    fired = monday["stock_end_of_day"]
    close, figures = closed_by(exits, fired, "time_of_day")
    assert close.option_symbol is None
    assert (figures["now"], figures["time_exit"]) == ("15:50", "15:50")


# -- Tuesday, then the day before expiry: the swing trade's DTE rule ---------------


@pytest.fixture(scope="module")
def expiry(exits, monday) -> Fired:
    exits.next_day(TUESDAY)
    # A CALL and a PUT: by the day before expiry one of them may be so far out of the
    # money that nobody bids for it (its close rests unfilled).
    swings = exits.enter(
        ("SPY", "BUY", "CALL", "swing_trade"), ("SPY", "SELL", "PUT", "swing_trade")
    )
    for swing in swings:
        assert (swing.expiration_date - TUESDAY.date()).days >= 7  # the swing window
    due = {e.id: _first_day_at_one_dte(e.expiration_date) for e in swings}
    lines = []
    for day in sorted(set(due.values())):
        waiting = {e.id for e in swings if due[e.id] >= day}
        before = datetime.combine(_last_trading_day_before(day), clock_time(11), NEW_YORK)
        quiet = exits.manage("tuesday", exits.move(to=before.isoformat()))
        assert not [x for x in quiet["exits"] if x["execution_id"] in waiting], quiet
        at = datetime.combine(day, clock_time(10), NEW_YORK)
        outcome = exits.manage("tuesday", exits.move(to=at.isoformat()))
        fired = [x for x in outcome["exits"] if x["execution_id"] in waiting]
        assert sorted((x["execution_id"], x["rule"], x["sent"]) for x in fired) == sorted(
            (i, "expiry", True) for i in waiting if due[i] == day
        ), outcome
        exits.worked([x["recommendation_id"] for x in fired])
        lines += fired
    exits.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
    # the one out of the money may have no bid: its close rests unfilled
    sold = [x for x in lines if exits.placed(x["recommendation_id"])]
    sold = [x for x in sold if exits.filled(x["recommendation_id"])]
    assert sold, f"no close of {sorted(due)} was placed and filled: {lines}"
    by_id = {e.id: e for e in swings}
    return Fired(by_id[sold[0]["execution_id"]], sold[0])


def _first_day_at_one_dte(expires: date) -> date:
    """The first trading day an option expiring on ``expires`` is at most 1 DTE."""
    day = _last_trading_day_before(expires)
    return day if (expires - day).days <= 1 else expires


def _last_trading_day_before(day: date) -> date:
    """The weekday before ``day`` (the module's dates cross no exchange holiday)."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def test_a_swing_option_is_closed_at_one_day_to_expiry(exits, expiry):
    _close, figures = closed_by(exits, expiry, "expiry")
    assert figures["close_at_dte"] == 1
    assert figures["dte"] <= 1
