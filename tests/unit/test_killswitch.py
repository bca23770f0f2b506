"""The kill switch over Redis (fakeredis): on, off, status, and closed when unreadable."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import pytest

from strikeflow import bootstrap
from strikeflow.app_state.in_redis import KILL_SWITCH_KEY, RedisKillSwitch
from strikeflow.cli import main
from strikeflow.services.ports import KillSwitch


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def switch(server) -> RedisKillSwitch:
    return RedisKillSwitch(fakeredis.FakeRedis(server=server))


def test_it_implements_the_port(switch):
    assert isinstance(switch, KillSwitch)


def test_off_until_turned_on_then_off_again(switch):
    assert not switch.is_on()
    at = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    switch.turn_on("drawdown", now=at)
    state = switch.state()
    assert state.on
    assert state.reason == "drawdown"
    assert state.since == at.isoformat()
    assert switch.is_on()
    switch.turn_off()
    assert not switch.is_on()


def test_every_process_sees_the_same_key(server, switch):
    other = RedisKillSwitch(fakeredis.FakeRedis(server=server))
    switch.turn_on("from the shell")
    assert other.is_on()
    assert fakeredis.FakeRedis(server=server).exists(KILL_SWITCH_KEY)


def test_a_foreign_value_still_means_on(server, switch):
    fakeredis.FakeRedis(server=server).set(KILL_SWITCH_KEY, "set by hand")
    state = switch.state()
    assert state.on
    assert state.reason == "set by hand"


def test_it_fails_closed_when_redis_cannot_be_read(server, switch):
    server.connected = False
    state = switch.state()
    assert state.on
    assert not state.readable
    assert switch.is_on()


def test_the_cli_turns_it_on_and_off(server, monkeypatch, capsys):
    monkeypatch.setattr(
        RedisKillSwitch,
        "from_url",
        classmethod(lambda cls, url, key=KILL_SWITCH_KEY: cls(fakeredis.FakeRedis(server=server))),
    )
    assert main(["killswitch", "on", "--reason", "halt"]) == 0
    assert "on since" in capsys.readouterr().out
    assert RedisKillSwitch(fakeredis.FakeRedis(server=server)).is_on()
    assert main(["killswitch", "status"]) == 0
    assert "halt" in capsys.readouterr().out
    assert main(["killswitch", "off"]) == 0
    assert capsys.readouterr().out.strip() == "kill switch off"
    server.connected = False
    assert main(["killswitch", "status"]) == 1


def test_bootstrap_wires_it_from_settings():
    switch = bootstrap.fleet_kill_switch("redis://127.0.0.1:6379/15")
    assert isinstance(switch, KillSwitch)  # built without connecting
    pool = switch._redis.connection_pool
    assert pool.connection_kwargs["db"] == 15
    # bounded waits: a Redis that hangs makes is_on fail closed, it does not stall an order
    assert pool.connection_kwargs["socket_timeout"] == 2
    assert pool.connection_kwargs["socket_connect_timeout"] == 2
