"""scripts/fleet as a user runs it: it brings up the compose file's processes (the five
workers answer in Flower, the emulator's simulated clock moves), and SIGTERM takes every
one of them down and exits 0. Its own redis-server and PostgreSQL database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from celery import Celery

from strikeflow.devfleet.emulator import free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.stack import STACK_WORKERS
from tests.integration.conftest import create_database  # noqa: F401 (a fixture)
from tests.integration.emulator import poll

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fleet"
AUTH = ("fleet-user", "fleet-pass")
START_DEADLINE_S = 120.0
STOP_DEADLINE_S = 60.0


@pytest.fixture
def fleet(tmp_path, create_database) -> Iterator[dict]:  # noqa: F811
    with RedisServer(tmp_path / "redis.log") as redis_server:
        ports = {"emulator": free_port(), "flower": free_port()}
        logs = tmp_path / "fleet-logs"
        out = tmp_path / "fleet.out"
        command = [
            sys.executable, str(SCRIPT), "--log-dir", str(logs),
            "--database-url", create_database("postgresql"),
            "--redis", f"127.0.0.1:{redis_server.port}", "--dbs", "11,15,3",
            "--emulator-port", str(ports["emulator"]), "--flower-port", str(ports["flower"]),
            "--flower-auth", ":".join(AUTH), "--start", "2037-11-16T10:00:00-05:00",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
        with out.open("wb") as handle:
            process = subprocess.Popen(
                command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        try:
            broker = f"{redis_server.url}/11"
            yield {"process": process, "out": out, "logs": logs, "broker": broker, **ports}
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=STOP_DEADLINE_S)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def processes_naming(text: str) -> list[int]:
    """Pids whose command line names ``text`` (beat's names the log directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(proc.name))
    return found


def test_scripts_fleet_brings_up_the_fleet_and_sigterm_takes_it_down(fleet):
    process, out = fleet["process"], fleet["out"]

    def up() -> bool:
        assert process.poll() is None, out.read_text()
        return "scripts/fleet: up" in out.read_text()

    try:
        poll(up, bool, START_DEADLINE_S)
    except AssertionError:
        raise AssertionError(out.read_text()) from None

    flower = f"http://127.0.0.1:{fleet['flower']}"

    def workers() -> set[str]:
        reply = requests.get(f"{flower}/api/workers", params={"refresh": 1}, auth=AUTH, timeout=10)
        return {name.split("@")[0] for name in reply.json()} if reply.ok else set()

    expected = {spec.name for spec in STACK_WORKERS}
    poll(workers, lambda names: names >= expected, START_DEADLINE_S)
    emulator = f"http://127.0.0.1:{fleet['emulator']}/v2/clock"
    headers = {"APCA-API-KEY-ID": "strikeflow", "APCA-API-SECRET-KEY": "strikeflow-secret"}
    first = requests.get(emulator, headers=headers, timeout=10).json()["timestamp"]
    poll(lambda: requests.get(emulator, headers=headers, timeout=10).json()["timestamp"],
         lambda now: now > first, 30)  # fmt: skip

    logs = fleet["logs"]
    others = [pid for pid in processes_naming(str(logs)) if pid != process.pid]
    assert others, "beat names the log directory in its command line"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_DEADLINE_S) == 0, out.read_text()
    assert "scripts/fleet: stopping" in out.read_text()
    assert not listening(fleet["flower"])
    assert not listening(fleet["emulator"])
    assert processes_naming(str(logs)) == []
    client = Celery("probe", broker=fleet["broker"], set_as_current=False)
    try:
        assert client.control.ping(timeout=1.0) == [], "a worker still answers"
    finally:
        client.close()
    names = {p.name for p in logs.iterdir()}
    expected_logs = {f"worker-{s.name}.log" for s in STACK_WORKERS}
    assert expected_logs | {"migrate.log", "emulator.log", "beat.log", "flower.log"} <= names
    for name in expected_logs:
        assert "Warm shutdown" in (logs / name).read_text(), name
