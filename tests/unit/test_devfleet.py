"""The local fleet's wiring, without starting anything: what each process is told."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from strikeflow.cli import _parser
from strikeflow.devfleet.emulator import ClockDriver, emulator_args
from strikeflow.devfleet.stack import STACK_WORKERS, LocalStack, StackConfig
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerSpec
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.faults import FaultConfig
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.workers.config import QUEUES

DBS = RedisDbs(broker=3, backend=4, app=5, port=6390)


def config(**overrides) -> FleetConfig:
    values = {
        "database_url": "postgresql+psycopg2://postgres@127.0.0.1/x",
        "emulator_url": "http://127.0.0.1:9999",
        "redis": DBS,
        "log_dir": Path("/nonexistent"),
    }
    return FleetConfig(**{**values, **overrides})


def test_the_settings_name_the_fleets_own_dbs_and_emulator():
    env = config(env={"STRIKEFLOW_RETRY_DEADLINE_S": "2"}).settings_env()
    assert env["STRIKEFLOW_BROKER_URL"] == "redis://127.0.0.1:6390/3"
    assert env["STRIKEFLOW_RESULT_BACKEND"] == "redis://127.0.0.1:6390/4"
    assert env["STRIKEFLOW_REDIS_URL"] == "redis://127.0.0.1:6390/5"
    assert env["STRIKEFLOW_ALPACA_BASE_URL"] == "http://127.0.0.1:9999"
    assert env["STRIKEFLOW_RETRY_DEADLINE_S"] == "2"


def test_without_an_emulator_there_is_no_base_url_so_alpaca_itself():
    env = config(emulator_url=None).settings_env()
    assert "STRIKEFLOW_ALPACA_BASE_URL" not in env
    assert config(emulator_url=None).settings().alpaca_base_url is None


def test_the_callers_strikeflow_settings_never_leak_into_a_process(monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_BROKER_URL", "redis://elsewhere:6379/0")
    monkeypatch.setenv("STRIKEFLOW_ALPACA_BASE_URL", "https://api.example")
    env = Fleet(config(emulator_url=None)).env()
    assert env["STRIKEFLOW_BROKER_URL"] == "redis://127.0.0.1:6390/3"
    assert "STRIKEFLOW_ALPACA_BASE_URL" not in env


def test_heartbeats_only_where_asked():
    fleet = Fleet(config())
    quiet = fleet.command(WorkerSpec("a", ("orders",)))
    beating = fleet.command(WorkerSpec("b", ("orders",), heartbeat=True))
    assert "--without-heartbeat" in quiet
    assert "--without-heartbeat" not in beating
    assert beating[beating.index("-Q") + 1] == "orders"


def test_the_stack_has_one_worker_per_queue_and_orders_alone():
    assert sorted(q for spec in STACK_WORKERS for q in spec.queues) == sorted(QUEUES)
    assert {s.name: s.concurrency for s in STACK_WORKERS}["orders"] == 1


def test_emulator_args_are_the_cli_s_and_give_back_the_options():
    options = EmulatorOptions(
        seed=7,
        symbols=("SPY", "QQQ"),
        start=datetime(2026, 12, 1, 9, 30, tzinfo=NEW_YORK),
        api_key="k",
        secret_key="s",
        fill_delay_s=0.5,
        faults=FaultConfig(error_5xx=0.1),
    )
    parsed = _parser().parse_args(["emulator", "--port", "1", *emulator_args(options)])
    assert (parsed.seed, parsed.symbols, parsed.clock) == (7, ("SPY", "QQQ"), "sim")
    assert parsed.start == options.start
    assert (parsed.api_key, parsed.secret_key, parsed.fill_delay) == ("k", "s", 0.5)
    assert parsed.fault_error_5xx == 0.1
    assert parsed.fault_drop == 0.0


def test_the_stack_gives_the_emulator_the_fleets_keys_and_the_fleet_its_url(tmp_path):
    stack = LocalStack(
        StackConfig(
            fleet=config(emulator_url=None, log_dir=tmp_path, api_key="K", secret_key="S"),
            emulator=EmulatorOptions(api_key="other", secret_key="other"),
            emulator_port=8123,
        )
    )
    assert stack.fleet.config.emulator_url == "http://127.0.0.1:8123"
    args = stack.emulator.args
    assert "--api-key=K" in args
    assert "--secret-key=S" in args


@pytest.mark.parametrize(
    ("speed", "tick_s", "until"),
    [(0, 0.25, None), (60, 0, None), (-1, 1, None), (60, 0.25, datetime(2026, 12, 1, 10))],
)
def test_a_clock_driver_refuses_what_cannot_drive(speed, tick_s, until):
    with pytest.raises(ValueError, match=r"speed|until"):
        ClockDriver("http://127.0.0.1:1", "k", "s", speed=speed, tick_s=tick_s, until=until)


def test_a_stopped_process_is_never_signalled_again(tmp_path, monkeypatch):
    """Its pid may belong to someone else by the second stop."""
    from strikeflow.devfleet import processes

    process = processes.LoggedProcess("sleeper", ["sleep", "30"], tmp_path / "sleep.log")
    sent: list[tuple[int, int]] = []
    real = processes.signal_group

    def recording(pid, sig):
        sent.append((pid, sig))
        real(pid, sig)

    monkeypatch.setattr(processes, "signal_group", recording)
    first = process.stop(deadline_s=5)
    signalled = len(sent)
    assert process.stop(deadline_s=5) == first
    process.kill()
    assert len(sent) == signalled == 2  # SIGTERM, then the group's SIGKILL sweep
    assert not process.alive()
