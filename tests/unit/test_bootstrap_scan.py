"""The scan's wiring: Redis claims and cooldowns (fakeredis: the app's own Redis use),
their in-process twins for STRIKEFLOW_REDIS_URL=memory://, and the settings behind them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import fakeredis
import pytest
from pydantic import ValidationError

from strikeflow import bootstrap
from strikeflow.app_state import app_state
from strikeflow.app_state.in_process import (
    InProcessCooldown,
    InProcessKillSwitch,
    InProcessScanLock,
)
from strikeflow.app_state.in_redis import (
    COOLDOWN_KEEP_S,
    RedisCooldown,
    RedisKillSwitch,
    RedisScanLock,
)
from strikeflow.config import DEFAULT_WATCHLIST, Settings
from strikeflow.services.ports import KillSwitch, ScanLock, SignalCooldown
from strikeflow.signals.rules_file import InvalidRules, default_rules

AT = datetime(2026, 11, 19, 15, 45, tzinfo=UTC)


@pytest.fixture
def client():
    return fakeredis.FakeRedis()


@pytest.mark.parametrize("make", [lambda c: RedisScanLock(c), lambda c: InProcessScanLock()])
def test_a_key_is_claimed_once_until_released(client, make):
    lock = make(client)
    assert isinstance(lock, ScanLock)
    assert lock.claim("strikeflow:scan:abc:1", 60) is True
    assert lock.claim("strikeflow:scan:abc:1", 60) is False
    assert lock.claim("strikeflow:scan:abc:2", 60) is True
    lock.release("strikeflow:scan:abc:1")
    assert lock.claim("strikeflow:scan:abc:1", 60) is True


def test_a_redis_claim_carries_its_ttl(client):
    RedisScanLock(client).claim("k", 90)
    assert 89_000 < client.pttl("k") <= 90_000


def test_an_in_process_claim_expires():
    ticks = iter([100.0, 100.5, 161.0])
    lock = InProcessScanLock(monotonic=lambda: next(ticks))
    assert lock.claim("k", 60) is True
    assert lock.claim("k", 60) is False  # 0.5 s later
    assert lock.claim("k", 60) is True  # 61 s later


@pytest.mark.parametrize("make", [lambda c: RedisCooldown(c), lambda c: InProcessCooldown()])
def test_cooldown_stamps_round_trip(client, make):
    cooldown = make(client)
    assert isinstance(cooldown, SignalCooldown)
    assert cooldown.last_recorded(["SPY:BUY"]) == {}
    cooldown.record({"SPY:BUY": AT, "QQQ:SELL": AT})
    assert cooldown.last_recorded(["SPY:BUY", "SPY:SELL"]) == {"SPY:BUY": AT}
    assert cooldown.last_recorded([]) == {}


def test_redis_cooldown_keys_expire_and_are_prefixed(client):
    RedisCooldown(client).record({"SPY:BUY": AT})
    assert client.ttl("strikeflow:cooldown:SPY:BUY") == COOLDOWN_KEEP_S


def test_memory_url_keeps_the_app_state_in_process_and_shared():
    first, again = app_state("memory://sf-test"), app_state("memory://sf-test")
    assert first is again
    assert isinstance(first.kill_switch, InProcessKillSwitch)
    assert isinstance(first.scan_lock, InProcessScanLock)
    assert app_state("memory://sf-other") is not first
    switch = app_state("memory://sf-test").kill_switch
    assert isinstance(switch, KillSwitch)
    switch.turn_on("test", now=AT)
    assert first.kill_switch.is_on()
    assert switch.state().reason == "test"
    switch.turn_off()
    assert not first.kill_switch.is_on()


def test_a_redis_url_gives_redis_state_without_connecting():
    state = app_state("redis://127.0.0.1:1/5")  # nobody listens: building must not connect
    assert isinstance(state.kill_switch, RedisKillSwitch)
    assert isinstance(state.scan_lock, RedisScanLock)
    assert isinstance(state.cooldown, RedisCooldown)


def memory_settings(tmp_path: Path, **more) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'sf.db'}",
        redis_url="memory://sf-bootstrap-test",
        alpaca_api_key="k",
        alpaca_secret_key="s",
        alpaca_base_url="http://127.0.0.1:1",
        **more,
    )


def test_a_memory_runtime_needs_no_redis_and_wires_the_scan(tmp_path):
    rt = bootstrap.build_runtime(memory_settings(tmp_path, watchlist="spy,qqq"))
    assert isinstance(rt.context.kill_switch, InProcessKillSwitch)
    assert rt.scan.lock is app_state("memory://sf-bootstrap-test").scan_lock
    assert rt.scan.watchlist == ("SPY", "QQQ")
    assert rt.scan.rules == default_rules()
    assert rt.scan.store is rt.recommendations
    assert rt.scan.market is rt.context.market
    assert rt.context.kill_switch.is_on() is False


def test_a_rules_file_is_loaded_and_a_bad_one_fails_the_build_naming_the_key(tmp_path):
    good = tmp_path / "rules.toml"
    good.write_text("[cooldown]\nminutes = 5\n")
    rt = bootstrap.build_runtime(memory_settings(tmp_path, rules_file=str(good)))
    assert rt.scan.rules.cooldown.minutes == 5
    bad = tmp_path / "bad.toml"
    bad.write_text("[cooldown]\nminutes = -1\n")
    with pytest.raises(InvalidRules, match=r"bad\.toml: cooldown\.minutes must be >= 0"):
        bootstrap.build_runtime(memory_settings(tmp_path, rules_file=str(bad)))


def test_the_watchlist_setting(monkeypatch):
    assert Settings().watchlist == DEFAULT_WATCHLIST
    monkeypatch.setenv("STRIKEFLOW_WATCHLIST", " spy, QQQ ,brk.b,SPY ")
    assert Settings().watchlist == ("SPY", "QQQ", "BRK.B")


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("STRIKEFLOW_WATCHLIST", "SPY,1X", "watchlist"),
        ("STRIKEFLOW_WATCHLIST", " , ", "watchlist"),
        ("STRIKEFLOW_SCAN_EVERY_S", "0", "scan_every_s"),
        ("STRIKEFLOW_SCAN_EVERY_S", "soon", "scan_every_s"),
        ("STRIKEFLOW_SCAN_EVERY_MIN", "0", "scan_every_min"),
        ("STRIKEFLOW_RECONCILE_EVERY_S", "-5", "reconcile_every_s"),
    ],
)
def test_bad_scan_settings_are_refused_naming_the_setting(monkeypatch, env, value, message):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_scan_every_s_is_optional_and_a_blank_rules_file_is_the_default(monkeypatch):
    assert Settings().scan_every_s is None
    monkeypatch.setenv("STRIKEFLOW_SCAN_EVERY_S", "0.5")
    monkeypatch.setenv("STRIKEFLOW_RULES_FILE", "")
    settings = Settings()
    assert settings.scan_every_s == 0.5
    assert settings.rules_file is None
